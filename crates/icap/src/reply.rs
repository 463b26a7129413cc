//! ICAP reply parsing over byte buffers, with no I/O, so that it can be unit-tested on
//! captured replies and fuzzed (`fuzz/fuzz_targets/icap_reply.rs`).
//!
//! [`ReplyParser`] is a push parser: the caller appends whatever the socket gave to a
//! buffer, calls [`ReplyParser::next`], and drops the bytes it reports as consumed. It
//! produces, per reply, one [`Event::Head`] (the ICAP status line and headers plus the
//! encapsulated HTTP headers), then for a reply with an encapsulated body any number of
//! [`Event::Body`] and one [`Event::End`]. Body bytes are counted, never kept: the client
//! only needs their number, so a server cannot make it buffer an echoed file.
//!
//! Everything the parser must hold at once is bounded by [`Limits`]: the ICAP header
//! block, the encapsulated HTTP headers, a chunk-size line and the trailers. The caller's
//! buffer therefore never grows beyond the largest limit plus one read.

use std::fmt;

/// Size bounds on the parts of a reply that have to be buffered whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The ICAP status line and headers, up to and including the blank line.
    pub max_head: usize,
    /// The encapsulated HTTP header sections (`req-hdr`, `res-hdr`) together.
    pub max_http_headers: usize,
    /// One chunk-size line, extensions included.
    pub max_chunk_line: usize,
    /// The trailer lines after the last chunk.
    pub max_trailers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 64 * 1024,
            max_http_headers: 64 * 1024,
            max_chunk_line: 1024,
            max_trailers: 16 * 1024,
        }
    }
}

/// Why a reply could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
    #[error("{0}")]
    Malformed(String),
}

fn malformed(msg: impl Into<String>) -> ReplyError {
    ReplyError::Malformed(msg.into())
}

/// Header fields in the order received. Names compare case-insensitively; a folded
/// value (continuation lines starting with a space or tab) keeps one `\n` between its
/// lines, because `X-Violations-Found` carries its records one per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a comma-separated header lists `token` (case-insensitive), as in
    /// `Allow: 204` or `Connection: close`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Parses header lines (without the status line and without the blank line).
    fn parse(lines: &[&str]) -> Result<Headers, ReplyError> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = fields.last_mut() else {
                    return Err(malformed("continuation line before the first header"));
                };
                let more = line.trim();
                if !more.is_empty() {
                    if !value.is_empty() {
                        value.push('\n');
                    }
                    value.push_str(more);
                }
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(malformed(format!(
                    "header line without ':': {:?}",
                    clip(line)
                )));
            };
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(malformed(format!("bad header name {:?}", clip(name))));
            }
            fields.push((name.to_owned(), value.trim().to_owned()));
        }
        Ok(Headers(fields))
    }
}

/// RFC 7230 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Bounds what error messages quote from a hostile reply.
fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

/// A part named in the `Encapsulated` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    ReqHdr,
    ResHdr,
    ReqBody,
    ResBody,
    OptBody,
    NullBody,
}

impl Section {
    fn from_name(name: &str) -> Option<Section> {
        Some(match name.to_ascii_lowercase().as_str() {
            "req-hdr" => Section::ReqHdr,
            "res-hdr" => Section::ResHdr,
            "req-body" => Section::ReqBody,
            "res-body" => Section::ResBody,
            "opt-body" => Section::OptBody,
            "null-body" => Section::NullBody,
            _ => return None,
        })
    }

    fn is_body(self) -> bool {
        !matches!(self, Section::ReqHdr | Section::ResHdr)
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::ReqHdr => "req-hdr",
            Section::ResHdr => "res-hdr",
            Section::ReqBody => "req-body",
            Section::ResBody => "res-body",
            Section::OptBody => "opt-body",
            Section::NullBody => "null-body",
        })
    }
}

/// Parses `Encapsulated: req-hdr=0, res-hdr=45, res-body=120`. Offsets must not go
/// down, header sections come before the one body entry, and a body entry (if any) is
/// last: anything else would make the byte accounting below ambiguous.
pub fn parse_encapsulated(value: &str) -> Result<Vec<(Section, usize)>, ReplyError> {
    let mut out: Vec<(Section, usize)> = Vec::new();
    for part in value.split(',') {
        let part = part.trim();
        let Some((name, offset)) = part.split_once('=') else {
            return Err(malformed(format!("Encapsulated entry {:?}", clip(part))));
        };
        let Some(section) = Section::from_name(name.trim()) else {
            return Err(malformed(format!(
                "Encapsulated names unknown part {:?}",
                clip(name)
            )));
        };
        let offset = parse_decimal(offset.trim())
            .ok_or_else(|| malformed(format!("Encapsulated offset {:?}", clip(offset))))?;
        if let Some(&(prev, prev_offset)) = out.last() {
            if prev.is_body() {
                return Err(malformed(format!(
                    "Encapsulated has {section} after {prev}"
                )));
            }
            if offset < prev_offset {
                return Err(malformed("Encapsulated offsets go backwards"));
            }
        } else if offset != 0 {
            return Err(malformed("Encapsulated does not start at offset 0"));
        }
        if out.iter().any(|&(s, _)| s == section) {
            return Err(malformed(format!("Encapsulated names {section} twice")));
        }
        out.push((section, offset));
    }
    Ok(out)
}

/// A decimal number of at most 18 digits (so it fits any `usize`/`u64` arithmetic
/// that follows).
fn parse_decimal(s: &str) -> Option<usize> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The ICAP head of a reply plus what the client needs from the encapsulated HTTP
/// headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyHead {
    /// The protocol from the status line, e.g. `ICAP/1.0`.
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    /// The parsed `Encapsulated` header; empty when the reply has none (100, 204, errors).
    pub encapsulated: Vec<(Section, usize)>,
    /// Status code of the encapsulated HTTP response (`res-hdr`), when there is one.
    pub http_status: Option<u16>,
    /// The encapsulated HTTP response headers (`res-hdr`), when there is one.
    pub http_headers: Option<Headers>,
    /// Whether a chunked body (`res-body`, `req-body` or `opt-body`) follows.
    pub has_body: bool,
}

impl ReplyHead {
    /// The `ISTag` header without its quotes.
    pub fn istag(&self) -> Option<&str> {
        self.headers.get("ISTag").map(unquote)
    }

    /// Whether the server will close the connection after this reply.
    pub fn closes(&self) -> bool {
        self.headers.has_token("Connection", "close")
    }
}

/// Strips one pair of surrounding double quotes.
pub fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(s)
}

/// One step of [`ReplyParser::next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete ICAP head and encapsulated HTTP headers. When `has_body` is false the
    /// reply ends here; otherwise [`Event::Body`]s and an [`Event::End`] follow.
    Head(Box<ReplyHead>),
    /// This many bytes of encapsulated body data (already discarded).
    Body(usize),
    /// The last chunk and the trailers of the body were read.
    End,
}

#[derive(Debug, Clone)]
enum State {
    Head,
    /// The ICAP head is parsed; waiting for `len` bytes of encapsulated HTTP headers.
    HttpHeaders {
        head: Box<ReplyHead>,
        len: usize,
    },
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    /// After an error: the stream is out of sync for good.
    Failed,
}

/// Incremental parser of a sequence of ICAP replies on one connection.
#[derive(Debug, Clone)]
pub struct ReplyParser {
    limits: Limits,
    state: State,
    /// How far the current line search has looked, so that a slow peer sending a head
    /// one byte at a time costs linear, not quadratic, work.
    scanned: usize,
    trailer_bytes: usize,
}

impl ReplyParser {
    pub fn new(limits: Limits) -> ReplyParser {
        ReplyParser {
            limits,
            state: State::Head,
            scanned: 0,
            trailer_bytes: 0,
        }
    }

    /// True between replies (before any byte of the next one is consumed).
    pub fn at_reply_boundary(&self) -> bool {
        matches!(self.state, State::Head) && self.scanned == 0
    }

    /// Parses from the start of `input`, which holds everything received and not yet
    /// consumed. Returns how many bytes were consumed (drop them before the next call)
    /// and an event, or no event when more input is needed.
    pub fn next(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), ReplyError> {
        let result = self.step(input);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn step(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), ReplyError> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Failed => Err(malformed("parser used after an error")),
            State::Head => {
                let Some(end) = self.find_blank_line(input, self.limits.max_head, "ICAP head")?
                else {
                    self.state = State::Head;
                    return Ok((0, None));
                };
                self.scanned = 0;
                let head = parse_head(&input[..end], &self.limits)?;
                let http_len = head
                    .encapsulated
                    .iter()
                    .find(|(s, _)| s.is_body())
                    .map(|&(_, offset)| offset)
                    .unwrap_or(0);
                if http_len > 0 {
                    self.state = State::HttpHeaders {
                        head,
                        len: http_len,
                    };
                    return Ok((end, None));
                }
                Ok((end, Some(self.emit_head(head))))
            }
            State::HttpHeaders { mut head, len } => {
                if input.len() < len {
                    self.state = State::HttpHeaders { head, len };
                    return Ok((0, None));
                }
                parse_http_sections(&mut head, &input[..len])?;
                Ok((len, Some(self.emit_head(head))))
            }
            State::ChunkSize => {
                let Some(line_end) =
                    self.find_line(input, self.limits.max_chunk_line, "chunk-size line")?
                else {
                    self.state = State::ChunkSize;
                    return Ok((0, None));
                };
                self.scanned = 0;
                let size = parse_chunk_size(&input[..line_end])?;
                let consumed = line_end + 1;
                if size == 0 {
                    self.trailer_bytes = 0;
                    self.state = State::Trailers;
                } else {
                    self.state = State::ChunkData(size);
                }
                Ok((consumed, None))
            }
            State::ChunkData(remaining) => {
                if input.is_empty() {
                    self.state = State::ChunkData(remaining);
                    return Ok((0, None));
                }
                let take = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                let left = remaining - take as u64;
                self.state = if left == 0 {
                    State::ChunkEnd
                } else {
                    State::ChunkData(left)
                };
                Ok((take, Some(Event::Body(take))))
            }
            State::ChunkEnd => match input {
                [b'\r', b'\n', ..] => {
                    self.state = State::ChunkSize;
                    Ok((2, None))
                }
                [b'\n', ..] => {
                    self.state = State::ChunkSize;
                    Ok((1, None))
                }
                [] | [b'\r'] => {
                    self.state = State::ChunkEnd;
                    Ok((0, None))
                }
                _ => Err(malformed("chunk data longer than its size")),
            },
            State::Trailers => {
                let limit = self.limits.max_trailers.saturating_sub(self.trailer_bytes);
                let Some(line_end) = self.find_line(input, limit, "chunk trailers")? else {
                    self.state = State::Trailers;
                    return Ok((0, None));
                };
                self.scanned = 0;
                self.trailer_bytes += line_end + 1;
                let line = &input[..line_end];
                if line.is_empty() || line == b"\r" {
                    self.state = State::Head;
                    Ok((line_end + 1, Some(Event::End)))
                } else {
                    self.state = State::Trailers;
                    Ok((line_end + 1, None))
                }
            }
        }
    }

    fn emit_head(&mut self, head: Box<ReplyHead>) -> Event {
        self.state = if head.has_body {
            State::ChunkSize
        } else {
            State::Head
        };
        Event::Head(head)
    }

    /// The index of the next `\n` within `limit` bytes, or `None` if more input is
    /// needed.
    fn find_line(
        &mut self,
        input: &[u8],
        limit: usize,
        what: &'static str,
    ) -> Result<Option<usize>, ReplyError> {
        let window = &input[..input.len().min(limit)];
        let from = self.scanned.min(window.len());
        if let Some(i) = window[from..].iter().position(|&b| b == b'\n') {
            return Ok(Some(from + i));
        }
        self.scanned = window.len();
        if input.len() >= limit {
            return Err(ReplyError::TooLarge { what, limit });
        }
        Ok(None)
    }

    /// The length of the head including its terminating blank line (`\r\n\r\n`, or
    /// bare `\n`s, which some servers send), or `None` if more input is needed.
    fn find_blank_line(
        &mut self,
        input: &[u8],
        limit: usize,
        what: &'static str,
    ) -> Result<Option<usize>, ReplyError> {
        let end = blank_line_end(input, self.scanned, limit);
        match end {
            Some(end) => Ok(Some(end)),
            None => {
                // Resume a few bytes back: the terminator may straddle two reads.
                self.scanned = input.len().min(limit).saturating_sub(3);
                if input.len() >= limit {
                    Err(ReplyError::TooLarge { what, limit })
                } else {
                    Ok(None)
                }
            }
        }
    }
}

/// End (exclusive) of the first empty line at or after `from`, looking at no more than
/// `limit` bytes.
fn blank_line_end(input: &[u8], from: usize, limit: usize) -> Option<usize> {
    let window = &input[..input.len().min(limit)];
    let mut i = from.min(window.len());
    while let Some(p) = window[i..].iter().position(|&b| b == b'\n') {
        let nl = i + p;
        // The line ending at `nl` is empty if it starts right after a previous '\n'
        // (optionally with a '\r' in between).
        let empty = (nl >= 1 && window[nl - 1] == b'\n')
            || (nl >= 2 && window[nl - 1] == b'\r' && window[nl - 2] == b'\n');
        if empty {
            return Some(nl + 1);
        }
        i = nl + 1;
    }
    None
}

/// Splits a head into lines without their `\r\n` (or `\n`), dropping the final empty
/// line.
fn head_lines(block: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = block
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

fn parse_head(block: &[u8], limits: &Limits) -> Result<Box<ReplyHead>, ReplyError> {
    let text = String::from_utf8_lossy(block);
    let lines = head_lines(&text);
    let Some((status_line, header_lines)) = lines.split_first() else {
        return Err(malformed("empty reply head"));
    };
    let (version, status, reason) = parse_status_line(status_line, "ICAP/")?;
    let headers = Headers::parse(header_lines)?;
    // An interim 100 never carries encapsulated data, whatever its headers say.
    let encapsulated = match headers.get("Encapsulated") {
        Some(value) if status != 100 => parse_encapsulated(value)?,
        _ => Vec::new(),
    };
    if headers.get_all("Encapsulated").nth(1).is_some() && status != 100 {
        return Err(malformed("more than one Encapsulated header"));
    }
    let header_len = encapsulated
        .iter()
        .find(|(s, _)| s.is_body())
        .map(|&(_, o)| o)
        .unwrap_or(0);
    if header_len > limits.max_http_headers {
        return Err(ReplyError::TooLarge {
            what: "encapsulated HTTP headers",
            limit: limits.max_http_headers,
        });
    }
    if !encapsulated.is_empty() && !encapsulated.iter().any(|(s, _)| s.is_body()) {
        return Err(malformed(
            "Encapsulated names no body part (null-body, res-body, ...)",
        ));
    }
    let has_body = encapsulated
        .iter()
        .any(|&(s, _)| matches!(s, Section::ResBody | Section::ReqBody | Section::OptBody));
    Ok(Box::new(ReplyHead {
        version,
        status,
        reason,
        headers,
        encapsulated,
        http_status: None,
        http_headers: None,
        has_body,
    }))
}

/// `PROTO/x.y NNN reason`; the reason may be empty.
fn parse_status_line(line: &str, proto: &str) -> Result<(String, u16, String), ReplyError> {
    let bad = || malformed(format!("bad status line {:?}", clip(line)));
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().ok_or_else(bad)?;
    let code = parts.next().ok_or_else(bad)?;
    let reason = parts.next().unwrap_or("").trim();
    let is_version = version
        .get(..proto.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(proto))
        && version.len() > proto.len();
    if !is_version || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let status: u16 = code.parse().map_err(|_| bad())?;
    if !(100..=599).contains(&status) {
        return Err(bad());
    }
    Ok((version.to_owned(), status, reason.to_owned()))
}

/// Reads the `res-hdr` section (the encapsulated HTTP response head) out of the
/// encapsulated header bytes.
fn parse_http_sections(head: &mut ReplyHead, bytes: &[u8]) -> Result<(), ReplyError> {
    let Some(pos) = head
        .encapsulated
        .iter()
        .position(|&(s, _)| s == Section::ResHdr)
    else {
        return Ok(());
    };
    let start = head.encapsulated[pos].1;
    let end = head
        .encapsulated
        .get(pos + 1)
        .map(|&(_, o)| o)
        .unwrap_or(bytes.len())
        .min(bytes.len());
    let section = bytes.get(start..end).unwrap_or(&[]);
    let text = String::from_utf8_lossy(section);
    let lines = head_lines(&text);
    let Some((status_line, header_lines)) = lines.split_first() else {
        return Err(malformed("empty encapsulated HTTP response head"));
    };
    let (_, status, _) = parse_status_line(status_line, "HTTP/")?;
    head.http_status = Some(status);
    head.http_headers = Some(Headers::parse(header_lines)?);
    Ok(())
}

/// A chunk-size line without its `\n`: hex digits, optional `;extensions`.
fn parse_chunk_size(line: &[u8]) -> Result<u64, ReplyError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    let rest_ok = rest.is_empty() || matches!(rest[0], b';' | b' ' | b'\t');
    let bad = || {
        malformed(format!(
            "bad chunk-size line {:?}",
            clip(&String::from_utf8_lossy(line))
        ))
    };
    if digits.is_empty() || !rest_ok {
        return Err(bad());
    }
    let significant = digits
        .iter()
        .position(|&b| b != b'0')
        .map_or(&digits[digits.len()..], |i| &digits[i..]);
    if significant.len() > 15 {
        return Err(bad());
    }
    let mut size: u64 = 0;
    for &b in significant {
        let digit = (b as char).to_digit(16).ok_or_else(bad)?;
        size = size * 16 + u64::from(digit);
    }
    Ok(size)
}

/// A reply read whole by [`parse_replies`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub head: ReplyHead,
    /// Bytes of encapsulated body (dechunked).
    pub body_len: u64,
}

/// Parses every complete reply at the start of `input` (a 100 Continue and then the
/// final reply, for instance). Returns them with the number of bytes they took; bytes
/// of an incomplete last reply are left unconsumed.
pub fn parse_replies(input: &[u8], limits: Limits) -> Result<(Vec<Reply>, usize), ReplyError> {
    let mut parser = ReplyParser::new(limits);
    let mut replies = Vec::new();
    let mut pos = 0;
    let mut boundary = 0;
    let mut current: Option<Reply> = None;
    loop {
        let (used, event) = parser.next(&input[pos..])?;
        pos += used;
        match event {
            Some(Event::Head(head)) => {
                let reply = Reply {
                    head: *head,
                    body_len: 0,
                };
                if reply.head.has_body {
                    current = Some(reply);
                } else {
                    replies.push(reply);
                    boundary = pos;
                }
            }
            Some(Event::Body(n)) => {
                if let Some(reply) = current.as_mut() {
                    reply.body_len += n as u64;
                }
            }
            Some(Event::End) => {
                if let Some(reply) = current.take() {
                    replies.push(reply);
                }
                boundary = pos;
            }
            None if used == 0 => return Ok((replies, boundary)),
            None => {}
        }
    }
}

/// Replies captured from c-icap 0.5.10 + virus_scan 0.5.5 (clamd_mod, Debian 12).
#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) const OPTIONS: &[u8] = b"ICAP/1.0 200 OK\r\nMethods: RESPMOD, REQMOD\r\nService: C-ICAP/0.5.10 server - Antivirus service\r\nISTag: \"CI0001-L5CkDhq+qWNs+PZ5DxxXsAAA\"\r\nTransfer-Preview: *\r\nOptions-TTL: 3600\r\nDate: Sun, 22 Nov 2026 13:41:14 GMT\r\nPreview: 1024\r\nAllow: 204\r\nEncapsulated: null-body=0\r\n\r\n";
    pub(crate) const NOT_FOUND: &[u8] =
        b"ICAP/1.0 404 Service not found\r\nServer: C-ICAP/0.5.10\r\nConnection: close\r\n\r\n";
    pub(crate) const UNMODIFIED: &[u8] = b"ICAP/1.0 204 Unmodified\r\nServer: C-ICAP/0.5.10\r\nConnection: keep-alive\r\nISTag: \"CI0001-L5CkDhq+qWNs+PZ5DxxXsAAA\"\r\n\r\n";
    pub(crate) const INFECTED: &[u8] = b"ICAP/1.0 200 OK\r\nServer: C-ICAP/0.5.10\r\nConnection: keep-alive\r\nISTag: \"CI0001-L5CkDhq+qWNs+PZ5DxxXsAAA\"\r\nX-Infection-Found: Type=0; Resolution=2; Threat=Test.EICAR-1.UNOFFICIAL;\r\nX-Violations-Found: 1\r\n\t-\r\n\tTest.EICAR-1.UNOFFICIAL\r\n\t0\r\n\t0\r\nEncapsulated: res-hdr=0, res-body=161\r\n\r\nHTTP/1.0 403 Forbidden\r\nServer: C-ICAP\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Language: en\r\nVia: ICAP/1.0 vm (C-ICAP/0.5.10 Antivirus service )\r\n\r\n1a6\r\n<html>\n <head>\n   <title>VIRUS FOUND</title>\n</head>\n\n<body>\n<h1>VIRUS FOUND</h1>\n\n\nYou tried to upload/download a file that contains the virus:\n   <b> Test.EICAR-1.UNOFFICIAL </b>\n<br>\nThe Http location is:\n<b>  - </b>\n\n<p>\n  For more information contact your system administrator\n\n<hr>\n<p>\nThis message generated by C-ICAP service: <b> virus_scan </b>\n<br>Antivirus engine: <b> clamd-146/0 </b>\n\n</p>\n\n</body>\n</html>\n\x00\x00\r\n0\r\n\r\n";
    /// A zero-byte body: c-icap echoes the response instead of answering 204.
    pub(crate) const ECHO_EMPTY: &[u8] = b"ICAP/1.0 200 OK\r\nServer: C-ICAP/0.5.10\r\nConnection: keep-alive\r\nISTag: \"CI0001-L5CkDhq+qWNs+PZ5DxxXsAAA\"\r\nEncapsulated: res-hdr=0, res-body=91\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\nVia: ICAP/1.0 vm (C-ICAP/0.5.10 Antivirus service )\r\n\r\n0\r\n\r\n";
    pub(crate) const CONTINUE: &[u8] = b"ICAP/1.0 100 Continue\r\n\r\n";
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;

    fn one(input: &[u8]) -> Reply {
        let (replies, used) = parse_replies(input, Limits::default()).expect("parses");
        assert_eq!(
            used,
            input.len(),
            "consumed all of {:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(replies.len(), 1);
        replies.into_iter().next().expect("one reply")
    }

    /// Feeding one byte at a time must give the same events as feeding everything.
    fn events(input: &[u8], step: usize) -> Result<Vec<Event>, ReplyError> {
        let mut parser = ReplyParser::new(Limits::default());
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut out = Vec::new();
        loop {
            let (used, ev) = parser.next(&buf)?;
            buf.drain(..used);
            match ev {
                Some(Event::Body(n)) => match out.last_mut() {
                    Some(Event::Body(m)) => *m += n,
                    _ => out.push(Event::Body(n)),
                },
                Some(e) => out.push(e),
                None if used == 0 => {
                    if fed == input.len() {
                        return Ok(out);
                    }
                    let end = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
                None => {}
            }
        }
    }

    #[test]
    fn real_options_reply() {
        let r = one(OPTIONS);
        assert_eq!(r.head.status, 200);
        assert_eq!(r.head.version, "ICAP/1.0");
        assert_eq!(r.head.headers.get("methods"), Some("RESPMOD, REQMOD"));
        assert_eq!(r.head.istag(), Some("CI0001-L5CkDhq+qWNs+PZ5DxxXsAAA"));
        assert_eq!(r.head.encapsulated, vec![(Section::NullBody, 0)]);
        assert!(!r.head.has_body);
        assert!(r.head.headers.has_token("allow", "204"));
    }

    #[test]
    fn real_infected_reply() {
        let r = one(INFECTED);
        assert_eq!(r.head.status, 200);
        assert_eq!(r.head.http_status, Some(403));
        assert_eq!(r.body_len, 0x1a6);
        assert_eq!(
            r.head.headers.get("X-Violations-Found"),
            Some("1\n-\nTest.EICAR-1.UNOFFICIAL\n0\n0")
        );
        assert_eq!(
            r.head
                .http_headers
                .as_ref()
                .and_then(|h| h.get("content-type")),
            Some("text/html")
        );
    }

    #[test]
    fn real_204_404_and_echo() {
        let r = one(UNMODIFIED);
        assert_eq!((r.head.status, r.head.reason.as_str()), (204, "Unmodified"));
        assert!(!r.head.closes());
        let r = one(NOT_FOUND);
        assert_eq!(
            (r.head.status, r.head.reason.as_str()),
            (404, "Service not found")
        );
        assert!(r.head.closes());
        let r = one(ECHO_EMPTY);
        assert_eq!((r.head.http_status, r.body_len), (Some(200), 0));
    }

    #[test]
    fn continue_then_final_reply_on_one_stream() {
        let mut stream = CONTINUE.to_vec();
        stream.extend_from_slice(INFECTED);
        let (replies, used) = parse_replies(&stream, Limits::default()).expect("parses");
        assert_eq!(used, stream.len());
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0].head.status, 100);
        assert_eq!(replies[1].head.status, 200);
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        for capture in [
            OPTIONS, NOT_FOUND, UNMODIFIED, INFECTED, ECHO_EMPTY, CONTINUE,
        ] {
            let whole = events(capture, capture.len()).expect("whole");
            for step in [1, 2, 3, 7, 64] {
                assert_eq!(events(capture, step).expect("split"), whole, "step {step}");
            }
        }
    }

    #[test]
    fn folded_headers_and_bare_newlines() {
        let r = one(b"ICAP/1.0 200 OK\nMethods: RESPMOD,\n  REQMOD\nISTag: x\nEncapsulated: null-body=0\n\n");
        assert_eq!(r.head.headers.get("Methods"), Some("RESPMOD,\nREQMOD"));
        assert_eq!(r.head.istag(), Some("x"));
    }

    #[test]
    fn incomplete_replies_consume_nothing() {
        for cut in [1, 10, OPTIONS.len() - 1] {
            let (replies, used) =
                parse_replies(&OPTIONS[..cut], Limits::default()).expect("no error");
            assert!(replies.is_empty() && used == 0);
        }
        // Everything but the last byte of the final CRLF of the body.
        let cut = &INFECTED[..INFECTED.len() - 1];
        let (replies, used) = parse_replies(cut, Limits::default()).expect("no error");
        assert!(replies.is_empty() && used == 0);
    }

    #[test]
    fn malformed_replies_are_errors() {
        let cases: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"ICAP/1.0 2000 OK\r\n\r\n",
            b"ICAP/1.0 abc OK\r\n\r\n",
            b"ICAP/1.0 099 Low\r\n\r\n",
            b"ICAP/1.0 200 OK\r\n\tfolded first\r\n\r\n",
            b"ICAP/1.0 200 OK\r\nno colon here\r\n\r\n",
            b"ICAP/1.0 200 OK\r\nbad name: x\r\n\r\n",
            b"ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0\r\n\r\n",
            b"ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=5, res-body=0\r\n\r\n",
            b"ICAP/1.0 200 OK\r\nEncapsulated: res-body=0, res-hdr=3\r\n\r\n",
            b"ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0, res-hdr=0, null-body=3\r\n\r\n",
            b"ICAP/1.0 200 OK\r\nEncapsulated: foo=0\r\n\r\n",
            b"ICAP/1.0 200 OK\r\nEncapsulated: res-body=x\r\n\r\n",
            b"ICAP/1.0 200 OK\r\nEncapsulated: res-body=0\r\n\r\nzz\r\n",
            b"ICAP/1.0 200 OK\r\nEncapsulated: res-body=0\r\n\r\n1\r\nabc\r\n",
            b"ICAP/1.0 200 OK\r\nEncapsulated: res-body=0\r\n\r\nffffffffffffffffff\r\n",
            b"ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0, res-body=9\r\n\r\nnot http\r\n0\r\n\r\n",
            b"ICAP/1.0 200 OK\r\nEncapsulated: null-body=0\r\nEncapsulated: null-body=0\r\n\r\n",
        ];
        for case in cases {
            assert!(
                parse_replies(case, Limits::default()).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn oversized_parts_are_refused_without_buffering_them() {
        let limits = Limits::default();
        let mut head = b"ICAP/1.0 200 OK\r\nX-Pad: ".to_vec();
        head.resize(limits.max_head + 10, b'a');
        assert!(matches!(
            parse_replies(&head, limits),
            Err(ReplyError::TooLarge {
                what: "ICAP head",
                ..
            })
        ));
        let big = format!(
            "ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0, res-body={}\r\n\r\n",
            limits.max_http_headers + 1
        );
        assert!(matches!(
            parse_replies(big.as_bytes(), limits),
            Err(ReplyError::TooLarge { .. })
        ));
        let mut chunk = b"ICAP/1.0 200 OK\r\nEncapsulated: res-body=0\r\n\r\n1".to_vec();
        chunk.extend(std::iter::repeat_n(b';', 2000));
        assert!(matches!(
            parse_replies(&chunk, limits),
            Err(ReplyError::TooLarge {
                what: "chunk-size line",
                ..
            })
        ));
        let mut trailers = b"ICAP/1.0 200 OK\r\nEncapsulated: res-body=0\r\n\r\n0\r\n".to_vec();
        for _ in 0..2000 {
            trailers.extend_from_slice(b"X-T: 123456789\r\n");
        }
        assert!(matches!(
            parse_replies(&trailers, limits),
            Err(ReplyError::TooLarge {
                what: "chunk trailers",
                ..
            })
        ));
    }

    #[test]
    fn large_bodies_are_counted_not_kept() {
        let mut reply = b"ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0, res-body=19\r\n\r\nHTTP/1.1 200 OK\r\n\r\n".to_vec();
        for _ in 0..100 {
            reply.extend_from_slice(b"10000\r\n");
            reply.extend(std::iter::repeat_n(b'x', 0x10000));
            reply.extend_from_slice(b"\r\n");
        }
        reply.extend_from_slice(b"0; ext=1\r\nTrailer: yes\r\n\r\n");
        let r = one(&reply);
        assert_eq!(r.body_len, 100 * 0x10000);
        assert_eq!(r.head.http_status, Some(200));
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(parse_chunk_size(b"1a6\r"), Ok(0x1a6));
        assert_eq!(parse_chunk_size(b"0; ieof"), Ok(0));
        assert_eq!(parse_chunk_size(b"00000000000000000000010"), Ok(16));
        assert!(parse_chunk_size(b"").is_err());
        assert!(parse_chunk_size(b"x").is_err());
        assert!(parse_chunk_size(b"10x").is_err());
        assert!(parse_chunk_size(b"1000000000000000").is_err());
        assert_eq!(
            parse_chunk_size(b"fffffffffffffff"),
            Ok(0xfff_ffff_ffff_ffff)
        );
    }

    #[test]
    fn encapsulated_forms() {
        assert_eq!(
            parse_encapsulated("req-hdr=0, res-hdr=45, res-body=120"),
            Ok(vec![
                (Section::ReqHdr, 0),
                (Section::ResHdr, 45),
                (Section::ResBody, 120)
            ])
        );
        assert_eq!(
            parse_encapsulated("OPT-BODY=0"),
            Ok(vec![(Section::OptBody, 0)])
        );
    }

    #[test]
    fn req_hdr_before_res_hdr_is_skipped() {
        let req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let res = "HTTP/1.1 403 Forbidden\r\n\r\n";
        let reply = format!(
            "ICAP/1.0 200 OK\r\nEncapsulated: req-hdr=0, res-hdr={}, null-body={}\r\n\r\n{req}{res}",
            req.len(),
            req.len() + res.len()
        );
        let r = one(reply.as_bytes());
        assert_eq!(r.head.http_status, Some(403));
        assert!(!r.head.has_body);
    }
}
