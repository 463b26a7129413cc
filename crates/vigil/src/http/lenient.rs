//! Lenient request lines: curl and some HTTP libraries send query values unescaped
//! (`?size=>100`, `?name=a b`, `?name=<x`), which ONTAP accepts, but which the HTTP
//! layer (the `http` crate's URI grammar, hyper's request line) refuses with a bodiless
//! 400 before Vigil sees the request. This stream adapter sits between the connection
//! (after TLS) and hyper and percent-encodes, in each HTTP/1 request target, the bytes
//! that grammar refuses; Vigil then decodes them like any other escape.
//!
//! It follows HTTP/1 framing (`Content-Length`, chunked bodies) to know where each
//! request line starts; anything it cannot follow (HTTP/2, upgrades, malformed framing)
//! makes it step aside for the rest of the connection, leaving hyper's own handling.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum_server::accept::Accept;
use futures::TryFutureExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A request line or header block longer than this is left to hyper (which refuses it).
const MAX_HEAD: usize = 64 * 1024;

/// Wraps another acceptor (plain or TLS) so that its streams are read leniently.
#[derive(Clone)]
pub struct LenientAcceptor<A>(pub A);

type Wrap<T, S> = fn((T, S)) -> (LenientStream<T>, S);

impl<I, S, A: Accept<I, S>> Accept<I, S> for LenientAcceptor<A> {
    type Stream = LenientStream<A::Stream>;
    type Service = A::Service;
    type Future = futures::future::MapOk<A::Future, Wrap<A::Stream, A::Service>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        self.0
            .accept(stream, service)
            .map_ok((|(stream, service)| (LenientStream::new(stream), service)) as Wrap<_, _>)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Collecting a request line (or the empty lines before one).
    Line,
    /// Collecting a header block, passed on unchanged once complete.
    Headers,
    /// This many body bytes pass unchanged.
    Body(u64),
    /// A chunked body: collecting a chunk-size line.
    ChunkSize,
    /// Chunk data (then its CRLF), this many bytes.
    ChunkData(u64),
    /// The trailer section after the last chunk.
    Trailers,
    /// No more rewriting on this connection.
    Passthrough,
}

pub struct LenientStream<T> {
    inner: T,
    state: State,
    /// Bytes of the current line or header block, not yet passed on.
    head: Vec<u8>,
    /// Where the line being collected starts in `head` (a header block holds many).
    line_start: usize,
    /// Bytes ready for hyper.
    out: Vec<u8>,
    out_pos: usize,
}

impl<T> LenientStream<T> {
    pub fn new(inner: T) -> LenientStream<T> {
        LenientStream {
            inner,
            state: State::Line,
            head: Vec::new(),
            line_start: 0,
            out: Vec::new(),
            out_pos: 0,
        }
    }

    /// Feeds bytes read from the connection through the framing state machine.
    fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            match self.state {
                State::Passthrough => {
                    self.out.extend_from_slice(input);
                    return;
                }
                State::Body(n) | State::ChunkData(n) => {
                    let take = input.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                    self.out.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let left = n - take as u64;
                    let body = matches!(self.state, State::Body(_));
                    self.state = match (body, left) {
                        (true, 0) => State::Line,
                        (true, l) => State::Body(l),
                        // The CRLF after the data is read as an (empty) size line.
                        (false, 0) => State::ChunkSize,
                        (false, l) => State::ChunkData(l),
                    };
                }
                State::Line | State::Headers | State::ChunkSize | State::Trailers => {
                    let Some(end) = input.iter().position(|b| *b == b'\n') else {
                        self.head.extend_from_slice(input);
                        if self.head.len() > MAX_HEAD {
                            self.give_up();
                        }
                        return;
                    };
                    self.head.extend_from_slice(&input[..=end]);
                    input = &input[end + 1..];
                    self.line_done();
                    self.line_start = self.head.len();
                }
            }
        }
    }

    /// One line (ending in LF) is in `head`.
    fn line_done(&mut self) {
        let line = strip_eol(&self.head[self.line_start..]);
        match self.state {
            State::Line => {
                if line.is_empty() {
                    // Empty lines before a request line are allowed (RFC 9112 §2.2).
                    self.flush_head();
                    return;
                }
                if line.starts_with(b"PRI * HTTP/2") {
                    self.give_up();
                    return;
                }
                let rewritten = rewrite_request_line(line);
                self.head.clear();
                self.line_start = 0;
                self.out.extend_from_slice(&rewritten);
                self.out.extend_from_slice(b"\r\n");
                self.state = State::Headers;
            }
            State::Headers => {
                if !line.is_empty() {
                    if self.head.len() > MAX_HEAD {
                        self.give_up();
                    }
                    return; // keep collecting the block
                }
                let next = body_framing(&self.head);
                self.flush_head();
                self.state = match next {
                    Some(Framing::None) => State::Line,
                    Some(Framing::Length(0)) => State::Line,
                    Some(Framing::Length(n)) => State::Body(n),
                    Some(Framing::Chunked) => State::ChunkSize,
                    None => State::Passthrough,
                };
            }
            State::ChunkSize => {
                if line.is_empty() {
                    // The CRLF that ends a chunk's data.
                    self.flush_head();
                    return;
                }
                let size = std::str::from_utf8(line)
                    .ok()
                    .map(|l| l.split(';').next().unwrap_or("").trim())
                    .and_then(|hex| u64::from_str_radix(hex, 16).ok());
                self.flush_head();
                self.state = match size {
                    Some(0) => State::Trailers,
                    Some(n) => State::ChunkData(n),
                    None => State::Passthrough,
                };
            }
            State::Trailers => {
                let end = line.is_empty();
                self.flush_head();
                if end {
                    self.state = State::Line;
                }
            }
            State::Body(_) | State::ChunkData(_) | State::Passthrough => self.flush_head(),
        }
    }

    fn flush_head(&mut self) {
        self.out.append(&mut self.head);
        self.line_start = 0;
    }

    fn give_up(&mut self) {
        self.flush_head();
        self.state = State::Passthrough;
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// How the body after a header block is delimited; `None` when the block says
/// something this adapter does not follow (an upgrade, conflicting lengths).
fn body_framing(block: &[u8]) -> Option<Framing> {
    let text = std::str::from_utf8(block).ok()?;
    let mut length = None;
    let mut chunked = false;
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                let n: u64 = value.parse().ok()?;
                if length.is_some_and(|l| l != n) {
                    return None;
                }
                length = Some(n);
            }
            "transfer-encoding" => {
                if !value.to_ascii_lowercase().ends_with("chunked") {
                    return None;
                }
                chunked = true;
            }
            "upgrade" => return None,
            _ => {}
        }
    }
    Some(match (chunked, length) {
        (true, _) => Framing::Chunked,
        (false, Some(n)) => Framing::Length(n),
        (false, None) => Framing::None,
    })
}

/// `METHOD target HTTP/x.y` with the target's refused bytes percent-encoded. The
/// target is everything between the first and the last space, so raw spaces in it
/// survive; a line without a recognisable version is returned unchanged.
pub fn rewrite_request_line(line: &[u8]) -> Vec<u8> {
    let (Some(first), Some(last)) = (
        line.iter().position(|b| *b == b' '),
        line.iter().rposition(|b| *b == b' '),
    ) else {
        return line.to_vec();
    };
    if first == last || !line[last + 1..].starts_with(b"HTTP/") {
        return line.to_vec();
    }
    let target = &line[first + 1..last];
    let trimmed = {
        let start = target
            .iter()
            .position(|b| *b != b' ')
            .unwrap_or(target.len());
        let end = target
            .iter()
            .rposition(|b| *b != b' ')
            .map_or(start, |e| e + 1);
        &target[start..end]
    };
    let mut out = Vec::with_capacity(line.len() + 16);
    out.extend_from_slice(&line[..=first]);
    let mut in_query = false;
    for &b in trimmed {
        let keep = match b {
            b'?' if !in_query => {
                in_query = true;
                true
            }
            // Never a fragment on the wire: a `#` is data.
            b'#' | b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}' => {
                // The query grammar allows `\ ^ ` { | }`; the path allows `{ | }` only.
                if in_query {
                    matches!(b, b'\\' | b'^' | b'`' | b'{' | b'|' | b'}')
                } else {
                    matches!(b, b'{' | b'|' | b'}')
                }
            }
            0..=0x20 | 0x7f => false,
            _ => true,
        };
        if keep {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out.extend_from_slice(&line[last..]);
    out
}

impl<T: AsyncRead + Unpin> AsyncRead for LenientStream<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.out_pos < this.out.len() {
                let n = buf.remaining().min(this.out.len() - this.out_pos);
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let filled = read.filled();
                    if filled.is_empty() {
                        // End of stream: whatever was held goes to hyper as it is.
                        if this.head.is_empty() {
                            return Poll::Ready(Ok(()));
                        }
                        this.give_up();
                        continue;
                    }
                    let filled = filled.to_vec();
                    this.feed(&filled);
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for LenientStream<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> String {
        String::from_utf8(rewrite_request_line(s.as_bytes())).unwrap()
    }

    #[test]
    fn refused_bytes_in_targets_are_escaped() {
        assert_eq!(
            line("GET /api/x?size=>100 HTTP/1.1"),
            "GET /api/x?size=%3E100 HTTP/1.1"
        );
        assert_eq!(
            line("GET /api/x?size=<=5&name=a|b HTTP/1.1"),
            "GET /api/x?size=%3C=5&name=a|b HTTP/1.1"
        );
        assert_eq!(
            line("GET /api/x?comment=a b  c HTTP/1.1"),
            "GET /api/x?comment=a%20b%20%20c HTTP/1.1"
        );
        assert_eq!(
            line("GET /api/a b/c?q=\"x\"#y HTTP/1.1"),
            "GET /api/a%20b/c?q=%22x%22%23y HTTP/1.1"
        );
        // Valid lines are unchanged, lines without a version too.
        let ok = "PATCH /api/svm/svms/u?name=a%3Eb&x={y} HTTP/1.1";
        assert_eq!(line(ok), ok);
        assert_eq!(line("GET /x"), "GET /x");
        assert_eq!(line("GET /x y"), "GET /x y");
    }

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, State) {
        let mut s = LenientStream::new(());
        for c in chunks {
            s.feed(c);
        }
        (s.out, s.state)
    }

    #[test]
    fn framing_finds_every_request_line() {
        let (out, state) = run(&[
            b"POST /a?x=>1 HTTP/1.1\r\nContent-Length: 12\r\n\r\nGET /b?y=<2 GET /b?y",
            b"=<2 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"PATCH /c?z=a b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"5\r\nGET /\r\n0\r\n\r\nDELETE /d?w=>3 HTTP/1.1\r\n\r\n",
        ]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /a?x=%3E1 HTTP/1.1\r\nContent-Length: 12\r\n\r\nGET /b?y=<2 \
             GET /b?y=%3C2 HTTP/1.1\r\nHost: h\r\n\r\n\
             PATCH /c?z=a%20b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nGET /\r\n0\r\n\r\nDELETE /d?w=%3E3 HTTP/1.1\r\n\r\n"
        );
        assert_eq!(state, State::Line);
    }

    #[test]
    fn what_it_cannot_follow_passes_unchanged() {
        let (out, state) = run(&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nGET /?a=>b HTTP/1.1\r\n"]);
        assert_eq!(
            out,
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nGET /?a=>b HTTP/1.1\r\n"
        );
        assert_eq!(state, State::Passthrough);
        let (_, state) = run(&[b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"]);
        assert_eq!(state, State::Passthrough);
    }
}
