//! clamd reply lines: the exact byte forms clamd writes, and a parser for clients.
//!
//! Shapes (with `T` the terminator of the command's framing, and `N: ` the request
//! number inside an IDSESSION):
//! `[N: ]<subject>: OK T`, `[N: ]<subject>: <Name> FOUND T`, `[N: ]<subject>: <msg> ERROR T`,
//! `[N: ]<msg> ERROR T`, and bare status words such as `[N: ]PONG T`.

/// What a scan found for one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok,
    Found(String),
    Error(String),
}

/// Writes replies with the right session prefix and terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyWriter {
    /// Request number inside an IDSESSION, `None` outside one.
    pub session_id: Option<u32>,
    pub terminator: u8,
}

impl ReplyWriter {
    fn start(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        if let Some(id) = self.session_id {
            out.extend_from_slice(id.to_string().as_bytes());
            out.extend_from_slice(b": ");
        }
        out
    }

    /// A line with no subject: `PONG`, `RELOADING`, `UNKNOWN COMMAND`, a VERSION string.
    pub fn plain(&self, text: &[u8]) -> Vec<u8> {
        let mut out = self.start();
        out.extend_from_slice(text);
        out.push(self.terminator);
        out
    }

    /// `<msg> ERROR`, clamd's form for errors not tied to a file.
    pub fn error(&self, msg: &str) -> Vec<u8> {
        let mut out = self.start();
        out.extend_from_slice(msg.as_bytes());
        out.extend_from_slice(b" ERROR");
        out.push(self.terminator);
        out
    }

    /// `<subject>: <text>` for clamd's status-less notes such as `Empty file`.
    pub fn note(&self, subject: &[u8], text: &str) -> Vec<u8> {
        let mut out = self.start();
        out.extend_from_slice(subject);
        out.extend_from_slice(b": ");
        out.extend_from_slice(text.as_bytes());
        out.push(self.terminator);
        out
    }

    /// `<subject>: OK`, `<subject>: <Name> FOUND` or `<subject>: <msg> ERROR`.
    pub fn status(&self, subject: &[u8], status: &Status) -> Vec<u8> {
        let mut out = self.start();
        out.extend_from_slice(subject);
        out.extend_from_slice(b": ");
        match status {
            Status::Ok => out.extend_from_slice(b"OK"),
            Status::Found(name) => {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b" FOUND");
            }
            Status::Error(msg) => {
                out.extend_from_slice(msg.as_bytes());
                out.extend_from_slice(b" ERROR");
            }
        }
        out.push(self.terminator);
        out
    }
}

/// The subject clamd names in replies to FILDES: `fd[N]` with the server-side fd number.
pub fn fd_subject(fd: i32) -> Vec<u8> {
    format!("fd[{fd}]").into_bytes()
}

/// The subject of every INSTREAM reply.
pub const STREAM_SUBJECT: &[u8] = b"stream";

/// One reply line as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReply {
    pub session_id: Option<u32>,
    /// `None` for subject-less lines such as `INSTREAM size limit exceeded. ERROR`.
    pub subject: Option<Vec<u8>>,
    pub status: Status,
}

/// Parses one reply line (terminator removed).
///
/// Paths may contain `": "`, so the split point depends on the status: detection names
/// never contain `": "`, so a FOUND line splits at the last separator; clamd's error
/// messages do contain it ("File path check failure: ..."), so an ERROR line splits at
/// the first one.
pub fn parse_reply(line: &[u8]) -> ParsedReply {
    let (session_id, rest) = split_session_id(line);
    if let Some(head) = rest.strip_suffix(b" FOUND")
        && let Some(sep) = rfind(head, b": ")
    {
        return ParsedReply {
            session_id,
            subject: Some(head[..sep].to_vec()),
            status: Status::Found(String::from_utf8_lossy(&head[sep + 2..]).into_owned()),
        };
    }
    if let Some(head) = rest.strip_suffix(b": OK") {
        return ParsedReply {
            session_id,
            subject: Some(head.to_vec()),
            status: Status::Ok,
        };
    }
    if let Some(head) = rest.strip_suffix(b" ERROR") {
        let (subject, msg) = match find(head, b": ") {
            Some(sep) => (Some(head[..sep].to_vec()), &head[sep + 2..]),
            None => (None, head),
        };
        return ParsedReply {
            session_id,
            subject,
            status: Status::Error(String::from_utf8_lossy(msg).into_owned()),
        };
    }
    ParsedReply {
        session_id,
        subject: None,
        status: Status::Error(String::from_utf8_lossy(rest).into_owned()),
    }
}

/// Splits a leading `N: ` request number off an IDSESSION reply.
pub fn split_session_id(line: &[u8]) -> (Option<u32>, &[u8]) {
    let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > 0
        && line[digits..].starts_with(b": ")
        && let Some(id) = std::str::from_utf8(&line[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
    {
        return (Some(id), &line[digits + 2..]);
    }
    (None, line)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const Z: ReplyWriter = ReplyWriter {
        session_id: None,
        terminator: 0,
    };

    #[test]
    fn reply_forms_match_clamd() {
        assert_eq!(Z.status(b"/p/a.txt", &Status::Ok), b"/p/a.txt: OK\0");
        assert_eq!(
            Z.status(b"stream", &Status::Found("Eicar-Test-Signature".into())),
            b"stream: Eicar-Test-Signature FOUND\0"
        );
        assert_eq!(
            Z.error("INSTREAM size limit exceeded."),
            b"INSTREAM size limit exceeded. ERROR\0"
        );
        let session = ReplyWriter {
            session_id: Some(3),
            terminator: 0,
        };
        assert_eq!(session.plain(b"PONG"), b"3: PONG\0");
        assert_eq!(
            session.status(&fd_subject(12), &Status::Ok),
            b"3: fd[12]: OK\0"
        );
        let n = ReplyWriter {
            session_id: None,
            terminator: b'\n',
        };
        assert_eq!(n.plain(b"UNKNOWN COMMAND"), b"UNKNOWN COMMAND\n");
    }

    #[test]
    fn replies_parse_back() {
        let found = parse_reply(b"2: /a: b/x.com: Eicar FOUND");
        assert_eq!(found.session_id, Some(2));
        assert_eq!(found.subject.as_deref(), Some(&b"/a: b/x.com"[..]));
        assert_eq!(found.status, Status::Found("Eicar".into()));
        let err = parse_reply(b"/nope: File path check failure: No such file or directory. ERROR");
        assert_eq!(err.subject.as_deref(), Some(&b"/nope"[..]));
        assert_eq!(
            err.status,
            Status::Error("File path check failure: No such file or directory.".into())
        );
        let limit = parse_reply(b"INSTREAM size limit exceeded. ERROR");
        assert_eq!(limit.subject, None);
        assert_eq!(parse_reply(b"stream: OK").status, Status::Ok);
        assert_eq!(split_session_id(b"PONG"), (None, &b"PONG"[..]));
    }
}
