//! clamd commands: parsing what a client sent and encoding what a client sends.
//!
//! clamd accepts three framings of the same command words:
//! - `z` prefix, terminated by NUL (`zSCAN /x\0`): the recommended form, replies end in NUL;
//! - `n` prefix, terminated by newline (`nPING\n`): replies end in newline;
//! - bare ("old style", `PING\n` or a packet with no newline): replies end in newline,
//!   and only one command per connection. Newer commands (IDSESSION, INSTREAM, STATS, ...)
//!   are refused in that form, exactly as clamd refuses them.

use std::fmt;

/// The longest command clamd buffers (PATH_MAX + 8); anything longer is a protocol error.
pub const MAX_COMMAND_LEN: usize = 4096 + 8;

/// How a command was framed, which also decides how its replies are terminated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// `z...\0`
    Nul,
    /// `n...\n`
    Newline,
    /// no prefix, newline or end of packet
    Bare,
}

impl Framing {
    /// The byte that ends every reply to a command sent with this framing.
    pub fn terminator(self) -> u8 {
        match self {
            Framing::Nul => 0,
            Framing::Newline | Framing::Bare => b'\n',
        }
    }

    fn prefix(self) -> &'static [u8] {
        match self {
            Framing::Nul => b"z",
            Framing::Newline => b"n",
            Framing::Bare => b"",
        }
    }
}

/// One clamd command. Paths are raw bytes: replies must echo them byte for byte
/// (Samba's parser checks the byte right after the path), and unix paths need not be UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    Ping,
    Version,
    VersionCommands,
    Reload,
    Shutdown,
    Scan(Vec<u8>),
    ContScan(Vec<u8>),
    MultiScan(Vec<u8>),
    AllMatchScan(Vec<u8>),
    Instream,
    Fildes,
    Stats,
    IdSession,
    End,
    DetStats,
    DetStatsClear,
}

/// Why a command line could not be understood. clamd answers every one of these with
/// `UNKNOWN COMMAND`, so the variants exist for logging, not for the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unknown command")]
    Unknown,
    #[error("command {0} needs an argument")]
    MissingArgument(&'static str),
    #[error("command {0} takes no argument")]
    TrailingGarbage(&'static str),
    #[error("command {0} is not accepted without the z/n prefix")]
    NotOldStyle(&'static str),
}

struct Spec {
    word: &'static str,
    needs_path: bool,
    /// Accepted in the bare (old-style) framing.
    old_style: bool,
}

/// clamd's command table, in its matching order. Order matters: clamd matches by prefix,
/// so VERSIONCOMMANDS must be tried before VERSION.
const SPECS: &[Spec] = &[
    Spec {
        word: "SCAN",
        needs_path: true,
        old_style: true,
    },
    Spec {
        word: "QUIT",
        needs_path: false,
        old_style: true,
    },
    Spec {
        word: "RELOAD",
        needs_path: false,
        old_style: true,
    },
    Spec {
        word: "PING",
        needs_path: false,
        old_style: true,
    },
    Spec {
        word: "CONTSCAN",
        needs_path: true,
        old_style: true,
    },
    Spec {
        word: "VERSIONCOMMANDS",
        needs_path: false,
        old_style: false,
    },
    Spec {
        word: "VERSION",
        needs_path: false,
        old_style: true,
    },
    Spec {
        word: "END",
        needs_path: false,
        old_style: false,
    },
    Spec {
        word: "SHUTDOWN",
        needs_path: false,
        old_style: true,
    },
    Spec {
        word: "MULTISCAN",
        needs_path: true,
        old_style: true,
    },
    Spec {
        word: "FILDES",
        needs_path: false,
        old_style: true,
    },
    Spec {
        word: "STATS",
        needs_path: false,
        old_style: false,
    },
    Spec {
        word: "IDSESSION",
        needs_path: false,
        old_style: false,
    },
    Spec {
        word: "INSTREAM",
        needs_path: false,
        old_style: false,
    },
    Spec {
        word: "DETSTATSCLEAR",
        needs_path: false,
        old_style: true,
    },
    Spec {
        word: "DETSTATS",
        needs_path: false,
        old_style: true,
    },
    Spec {
        word: "ALLMATCHSCAN",
        needs_path: true,
        old_style: false,
    },
];

/// The words VERSIONCOMMANDS advertises, in clamd 1.4's order (observed on the wire).
pub const ADVERTISED_COMMANDS: &[&str] = &[
    "SCAN",
    "QUIT",
    "RELOAD",
    "PING",
    "CONTSCAN",
    "VERSIONCOMMANDS",
    "VERSION",
    "END",
    "SHUTDOWN",
    "MULTISCAN",
    "FILDES",
    "STATS",
    "IDSESSION",
    "INSTREAM",
    "DETSTATSCLEAR",
    "DETSTATS",
    "ALLMATCHSCAN",
];

impl Command {
    fn build(word: &str, path: Vec<u8>) -> Command {
        match word {
            "SCAN" => Command::Scan(path),
            "CONTSCAN" => Command::ContScan(path),
            "MULTISCAN" => Command::MultiScan(path),
            "ALLMATCHSCAN" => Command::AllMatchScan(path),
            "QUIT" | "SHUTDOWN" => Command::Shutdown,
            "RELOAD" => Command::Reload,
            "PING" => Command::Ping,
            "VERSIONCOMMANDS" => Command::VersionCommands,
            "VERSION" => Command::Version,
            "END" => Command::End,
            "FILDES" => Command::Fildes,
            "STATS" => Command::Stats,
            "IDSESSION" => Command::IdSession,
            "INSTREAM" => Command::Instream,
            "DETSTATSCLEAR" => Command::DetStatsClear,
            _ => Command::DetStats,
        }
    }

    /// Parses the body of one command (prefix and terminator already removed).
    pub fn parse(body: &[u8], framing: Framing) -> Result<Command, ParseError> {
        let spec = SPECS
            .iter()
            .find(|s| body.starts_with(s.word.as_bytes()))
            .ok_or(ParseError::Unknown)?;
        let rest = &body[spec.word.len()..];
        let path = if spec.needs_path {
            // Like clamd, skip exactly one separator byte, whatever it is, and accept an
            // empty path (answered with a path-check error, not UNKNOWN COMMAND).
            match rest.split_first() {
                Some((_, path)) => path.to_vec(),
                None => return Err(ParseError::MissingArgument(spec.word)),
            }
        } else {
            if !rest.is_empty() {
                return Err(ParseError::TrailingGarbage(spec.word));
            }
            Vec::new()
        };
        if framing == Framing::Bare && !spec.old_style {
            return Err(ParseError::NotOldStyle(spec.word));
        }
        Ok(Command::build(spec.word, path))
    }

    /// The command word, as it appears on the wire.
    pub fn word(&self) -> &'static str {
        match self {
            Command::Ping => "PING",
            Command::Version => "VERSION",
            Command::VersionCommands => "VERSIONCOMMANDS",
            Command::Reload => "RELOAD",
            Command::Shutdown => "SHUTDOWN",
            Command::Scan(_) => "SCAN",
            Command::ContScan(_) => "CONTSCAN",
            Command::MultiScan(_) => "MULTISCAN",
            Command::AllMatchScan(_) => "ALLMATCHSCAN",
            Command::Instream => "INSTREAM",
            Command::Fildes => "FILDES",
            Command::Stats => "STATS",
            Command::IdSession => "IDSESSION",
            Command::End => "END",
            Command::DetStats => "DETSTATS",
            Command::DetStatsClear => "DETSTATSCLEAR",
        }
    }

    fn path(&self) -> Option<&[u8]> {
        match self {
            Command::Scan(p)
            | Command::ContScan(p)
            | Command::MultiScan(p)
            | Command::AllMatchScan(p) => Some(p),
            _ => None,
        }
    }

    /// Whether clamd accepts this command inside an IDSESSION.
    pub fn allowed_in_session(&self) -> bool {
        matches!(
            self,
            Command::Fildes
                | Command::Scan(_)
                | Command::End
                | Command::Instream
                | Command::Version
                | Command::Ping
                | Command::Stats
                | Command::VersionCommands
        )
    }

    /// Encodes the command as a client sends it.
    pub fn encode(&self, framing: Framing) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        out.extend_from_slice(framing.prefix());
        out.extend_from_slice(self.word().as_bytes());
        if let Some(path) = self.path() {
            out.push(b' ');
            out.extend_from_slice(path);
        }
        out.push(framing.terminator());
        out
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path() {
            Some(p) => write!(f, "{} {}", self.word(), String::from_utf8_lossy(p)),
            None => f.write_str(self.word()),
        }
    }
}

/// One framed command cut out of the receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub framing: Framing,
    pub command: Result<Command, ParseError>,
    /// Bytes of the buffer this frame used, terminator included.
    pub consumed: usize,
}

/// Why the receive buffer cannot yield a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("command longer than {MAX_COMMAND_LEN} bytes")]
    TooLong,
}

/// Cuts the next command out of `buf`.
///
/// `packet_end` says the buffer ends where the client's last write ended: clamd treats a
/// bare command without newline as complete at a packet boundary ("one packet = one
/// command"), which is how `printf PING | nc` works. Returns `Ok(None)` when more bytes
/// are needed.
pub fn next_frame(buf: &[u8], packet_end: bool) -> Result<Option<Frame>, FrameError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let (framing, terminator, body_start) = match first {
        b'z' => (Framing::Nul, 0u8, 1),
        b'n' => (Framing::Newline, b'\n', 1),
        _ => (Framing::Bare, b'\n', 0),
    };
    let window = &buf[..buf.len().min(MAX_COMMAND_LEN + 1)];
    let (body_end, consumed) = match window.iter().position(|&b| b == terminator) {
        Some(pos) => (pos, pos + 1),
        None if framing == Framing::Bare && packet_end && buf.len() <= MAX_COMMAND_LEN => {
            (buf.len(), buf.len())
        }
        None if buf.len() > MAX_COMMAND_LEN => return Err(FrameError::TooLong),
        None => return Ok(None),
    };
    let mut body = &buf[body_start..body_end];
    if terminator == b'\n' {
        // clamd chomps trailing CR/LF from newline-framed commands (telnet clients).
        while let Some((&last, rest)) = body.split_last() {
            if last == b'\r' || last == b'\n' {
                body = rest;
            } else {
                break;
            }
        }
    }
    Ok(Some(Frame {
        framing,
        command: Command::parse(body, framing),
        consumed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(bytes: &[u8]) -> Frame {
        match next_frame(bytes, true) {
            Ok(Some(f)) => f,
            other => panic!("no frame from {bytes:?}: {other:?}"),
        }
    }

    #[test]
    fn three_framings_of_ping() {
        for (wire, framing) in [
            (&b"zPING\0"[..], Framing::Nul),
            (b"nPING\n", Framing::Newline),
            (b"PING\n", Framing::Bare),
            (b"PING", Framing::Bare),
            (b"nPING\r\n", Framing::Newline),
        ] {
            let f = frame(wire);
            assert_eq!(f.framing, framing, "{wire:?}");
            assert_eq!(f.command, Ok(Command::Ping), "{wire:?}");
            assert_eq!(f.consumed, wire.len());
        }
    }

    #[test]
    fn incomplete_commands_wait_for_more() {
        assert_eq!(next_frame(b"zPIN", true), Ok(None));
        assert_eq!(next_frame(b"nPING", true), Ok(None));
        assert_eq!(next_frame(b"PING", false), Ok(None));
        assert_eq!(next_frame(b"", true), Ok(None));
    }

    #[test]
    fn pipelined_commands_are_cut_one_by_one() {
        let buf = b"zIDSESSION\0zPING\0zSCAN /a b\0";
        let first = frame(buf);
        assert_eq!(first.command, Ok(Command::IdSession));
        let second = frame(&buf[first.consumed..]);
        assert_eq!(second.command, Ok(Command::Ping));
        let third = frame(&buf[first.consumed + second.consumed..]);
        assert_eq!(third.command, Ok(Command::Scan(b"/a b".to_vec())));
    }

    #[test]
    fn versioncommands_is_not_version() {
        assert_eq!(
            frame(b"zVERSIONCOMMANDS\0").command,
            Ok(Command::VersionCommands)
        );
        assert_eq!(frame(b"zVERSION\0").command, Ok(Command::Version));
        assert_eq!(
            frame(b"zDETSTATSCLEAR\0").command,
            Ok(Command::DetStatsClear)
        );
        assert_eq!(frame(b"zQUIT\0").command, Ok(Command::Shutdown));
    }

    #[test]
    fn malformed_commands_are_rejected() {
        assert_eq!(
            frame(b"zSCAN\0").command,
            Err(ParseError::MissingArgument("SCAN"))
        );
        assert_eq!(frame(b"zSCAN \0").command, Ok(Command::Scan(Vec::new())));
        // clamd's prefix matching: one separator byte of any value.
        assert_eq!(
            frame(b"zSCANX/p\0").command,
            Ok(Command::Scan(b"/p".to_vec()))
        );
        assert_eq!(
            frame(b"zPINGX\0").command,
            Err(ParseError::TrailingGarbage("PING"))
        );
        assert_eq!(frame(b"zHELLO\0").command, Err(ParseError::Unknown));
        assert_eq!(frame(b"\0").command, Err(ParseError::Unknown));
        assert_eq!(
            frame(b"IDSESSION\n").command,
            Err(ParseError::NotOldStyle("IDSESSION"))
        );
        assert_eq!(
            frame(b"INSTREAM\n").command,
            Err(ParseError::NotOldStyle("INSTREAM"))
        );
    }

    #[test]
    fn overlong_commands_are_an_error() {
        let long = vec![b'z'; MAX_COMMAND_LEN + 2];
        assert_eq!(next_frame(&long, false), Err(FrameError::TooLong));
        let mut exact = b"zSCAN /".to_vec();
        exact.resize(MAX_COMMAND_LEN, b'a');
        exact.push(0);
        assert!(matches!(next_frame(&exact, false), Ok(Some(_))));
    }

    #[test]
    fn encode_parses_back() {
        let commands = [
            Command::Ping,
            Command::Scan(b"/tmp/x y".to_vec()),
            Command::AllMatchScan(b"/a".to_vec()),
            Command::Instream,
            Command::IdSession,
            Command::Stats,
        ];
        for c in commands {
            for framing in [Framing::Nul, Framing::Newline] {
                let wire = c.encode(framing);
                assert_eq!(frame(&wire).command, Ok(c.clone()));
            }
        }
        assert_eq!(
            Command::ContScan(b"/d".to_vec()).encode(Framing::Nul),
            b"zCONTSCAN /d\0"
        );
    }
}
