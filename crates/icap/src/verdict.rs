//! What a RESPMOD reply means for the scanned file.
//!
//! Pure functions of a parsed [`ReplyHead`](crate::reply::ReplyHead), so the rules are
//! unit-tested and fuzzed together with the parser.

use crate::reply::ReplyHead;

/// The outcome of scanning one file over ICAP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IcapVerdict {
    /// `204 No Content`, or a `200` that hands back the HTTP response unchanged: a 2xx
    /// status and exactly as many body bytes as were sent (c-icap answers a zero-byte
    /// body that way even when `Allow: 204` was offered).
    Clean,
    /// The server named what it found: `X-Infection-Found` (c-icap, Squid's eCAP/ICAP
    /// servers) or, failing that, `X-Violations-Found`. `threat` is the first name;
    /// `violations` holds every `X-Violations-Found` record. A repaired file
    /// (`Resolution=1`) is still reported as infected: the copy on disk is not repaired.
    Infected {
        threat: String,
        violations: Vec<Violation>,
    },
    /// The server replaced or cut the content without naming a threat: a non-2xx
    /// encapsulated HTTP status (typically c-icap's 403 page), a body of another length
    /// than the one sent (c-icap truncates a file it had started to send back before it
    /// found a virus), or a `200` without an HTTP response at all. A dispatcher must
    /// treat this as infected (the file was blocked); it is kept apart so that the
    /// event log can say no threat name was given.
    Modified { http_status: Option<u16> },
}

impl IcapVerdict {
    pub fn is_clean(&self) -> bool {
        matches!(self, IcapVerdict::Clean)
    }

    /// The name to report: the threat, `unknown` for [`IcapVerdict::Modified`], `None`
    /// when clean.
    pub fn threat_name(&self) -> Option<&str> {
        match self {
            IcapVerdict::Clean => None,
            IcapVerdict::Infected { threat, .. } => Some(threat),
            IcapVerdict::Modified { .. } => Some("unknown"),
        }
    }
}

/// One record of `X-Violations-Found` (draft-stecher-icap-subid): four lines per
/// record after the count line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The object's name inside the scanned content; `None` for c-icap's `-` (the
    /// whole body).
    pub filename: Option<String>,
    pub threat: String,
    pub problem_id: Option<u64>,
    /// 0 not fixed, 1 repaired, 2 blocked or deleted.
    pub resolution: Option<u8>,
}

/// What `X-Infection-Found: Type=0; Resolution=2; Threat=Eicar-Signature;` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Infection {
    /// 0 virus, 1 mail policy, 2 container, ...
    pub kind: Option<u8>,
    pub resolution: Option<u8>,
    pub threat: String,
}

/// Parses `X-Infection-Found`. Keys compare case-insensitively and may come in any
/// order; `None` when there is no non-empty `Threat`.
pub fn parse_infection(value: &str) -> Option<Infection> {
    let mut kind = None;
    let mut resolution = None;
    let mut threat = None;
    for field in value.split(';') {
        let Some((key, val)) = field.split_once('=') else {
            continue;
        };
        let (key, val) = (key.trim(), val.trim());
        if key.eq_ignore_ascii_case("type") {
            kind = val.parse().ok();
        } else if key.eq_ignore_ascii_case("resolution") {
            resolution = val.parse().ok();
        } else if key.eq_ignore_ascii_case("threat") && threat.is_none() {
            threat = Some(clip_name(val)).filter(|t| !t.is_empty());
        }
    }
    threat.map(|threat| Infection {
        kind,
        resolution,
        threat,
    })
}

/// Threat names end up in events and logs: bound them and drop control characters.
fn clip_name(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(256).collect()
}

/// Parses `X-Violations-Found` as the parser stores it (folded lines joined by `\n`):
/// a count, then four lines per record. A value whose lines were unfolded into one by
/// an intermediary is read as whitespace-separated words instead (threat names without
/// spaces, which is what engines produce). Records beyond the ones actually present or
/// beyond 64 are ignored, whatever the count says.
pub fn parse_violations(value: &str) -> Vec<Violation> {
    let lines: Vec<&str> = value.lines().map(str::trim).collect();
    let words: Vec<&str> = if lines.len() > 1 {
        lines
    } else {
        value.split_whitespace().collect()
    };
    let Some((count, rest)) = words.split_first() else {
        return Vec::new();
    };
    let Ok(count) = count.parse::<usize>() else {
        return Vec::new();
    };
    rest.chunks_exact(4)
        .take(count.min(64))
        .filter_map(|r| {
            let threat = clip_name(r[1]);
            let filename = clip_name(r[0]);
            (!threat.is_empty()).then(|| Violation {
                filename: (filename != "-" && !filename.is_empty()).then_some(filename),
                threat,
                problem_id: r[2].parse().ok(),
                resolution: r[3].parse().ok(),
            })
        })
        .collect()
}

/// The verdict of a final (non-100) reply as far as the ICAP and encapsulated HTTP
/// headers tell, or `None` when it depends on the body: a 2xx echo is clean only if the
/// body comes back whole. Errors are the caller's business (status >= 300).
pub fn verdict_from_head(head: &ReplyHead) -> Option<IcapVerdict> {
    if head.status == 204 {
        return Some(IcapVerdict::Clean);
    }
    let violations: Vec<Violation> = head
        .headers
        .get_all("X-Violations-Found")
        .flat_map(parse_violations)
        .collect();
    let named = head
        .headers
        .get_all("X-Infection-Found")
        .find_map(parse_infection)
        .map(|i| i.threat)
        .or_else(|| violations.first().map(|v| v.threat.clone()));
    if let Some(threat) = named {
        return Some(IcapVerdict::Infected { threat, violations });
    }
    // The server said it found something but the name is unreadable: still infected.
    let flagged = head.headers.get("X-Infection-Found").is_some()
        || head.headers.get_all("X-Violations-Found").any(|v| {
            v.split_whitespace()
                .next()
                .is_some_and(|count| count != "0" && count != "-")
        });
    if flagged {
        return Some(IcapVerdict::Infected {
            threat: "unknown".to_owned(),
            violations,
        });
    }
    match head.http_status {
        Some(code) if (200..300).contains(&code) => None,
        other => Some(IcapVerdict::Modified { http_status: other }),
    }
}

/// The verdict once the body of a 2xx echo has been counted.
pub fn verdict_from_echo(head: &ReplyHead, body_len: u64, sent_len: u64) -> IcapVerdict {
    match verdict_from_head(head) {
        Some(v) => v,
        None if body_len == sent_len => IcapVerdict::Clean,
        None => IcapVerdict::Modified {
            http_status: head.http_status,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{Limits, parse_replies};

    fn head(input: &[u8]) -> ReplyHead {
        let (mut replies, _) = parse_replies(input, Limits::default()).expect("parses");
        replies.pop().expect("a reply").head
    }

    #[test]
    fn infection_header_forms() {
        assert_eq!(
            parse_infection("Type=0; Resolution=2; Threat=Eicar-Signature;"),
            Some(Infection {
                kind: Some(0),
                resolution: Some(2),
                threat: "Eicar-Signature".into()
            })
        );
        assert_eq!(
            parse_infection("threat=Win.Test.EICAR_HDB-1 ; type=0").map(|i| i.threat),
            Some("Win.Test.EICAR_HDB-1".into())
        );
        assert_eq!(parse_infection("Type=0; Resolution=2; Threat=;"), None);
        assert_eq!(parse_infection("garbage"), None);
    }

    #[test]
    fn violations_header_forms() {
        let v = parse_violations("1\n-\nTest.EICAR-1.UNOFFICIAL\n0\n0");
        assert_eq!(
            v,
            vec![Violation {
                filename: None,
                threat: "Test.EICAR-1.UNOFFICIAL".into(),
                problem_id: Some(0),
                resolution: Some(0)
            }]
        );
        let two = parse_violations("2\na.exe\nW32.A\n7\n2\nb/c.doc\nMacro.B\n8\n1");
        assert_eq!(two.len(), 2);
        assert_eq!(two[1].filename.as_deref(), Some("b/c.doc"));
        assert_eq!(two[1].resolution, Some(1));
        // Unfolded by an intermediary into one line.
        assert_eq!(parse_violations("1 - Eicar 0 2")[0].threat, "Eicar");
        // The count promises more than is there, or is not a number.
        assert_eq!(parse_violations("5\n-\nX\n0\n0\n-\nY").len(), 1);
        assert!(parse_violations("x\n-\nX\n0\n0").is_empty());
        assert!(parse_violations("-").is_empty());
        // Found by the fuzzer: a name of control characters only is no name.
        assert!(parse_violations("1\n-\n\u{12}\n0\n0").is_empty());
        assert_eq!(parse_infection("Threat=\u{1}\u{2};"), None);
        assert!(parse_violations("").is_empty());
        assert_eq!(
            parse_violations("99999999999\n-\nX\n0\n0").len(),
            1,
            "huge counts are bounded by the records present"
        );
    }

    #[test]
    fn verdicts_of_real_replies() {
        use crate::reply::tests_support::*;
        assert_eq!(
            verdict_from_head(&head(UNMODIFIED)),
            Some(IcapVerdict::Clean)
        );
        let infected = verdict_from_head(&head(INFECTED)).expect("decided");
        assert_eq!(infected.threat_name(), Some("Test.EICAR-1.UNOFFICIAL"));
        let IcapVerdict::Infected { violations, .. } = infected else {
            panic!("not infected")
        };
        assert_eq!(violations.len(), 1);
        let echo = head(ECHO_EMPTY);
        assert_eq!(verdict_from_head(&echo), None);
        assert_eq!(verdict_from_echo(&echo, 0, 0), IcapVerdict::Clean);
        assert_eq!(
            verdict_from_echo(&echo, 0, 3_000_000),
            IcapVerdict::Modified {
                http_status: Some(200)
            }
        );
    }

    #[test]
    fn fallbacks_without_infection_header() {
        let blocked = head(
            b"ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0, res-body=26\r\n\r\nHTTP/1.1 403 Forbidden\r\n\r\n0\r\n\r\n",
        );
        assert_eq!(
            verdict_from_head(&blocked),
            Some(IcapVerdict::Modified {
                http_status: Some(403)
            })
        );
        let only_violations = head(
            b"ICAP/1.0 200 OK\r\nX-Violations-Found: 1\r\n\tf\r\n\tW32.X\r\n\t3\r\n\t2\r\nEncapsulated: null-body=0\r\n\r\n",
        );
        assert_eq!(
            verdict_from_head(&only_violations).and_then(|v| v.threat_name().map(String::from)),
            Some("W32.X".into())
        );
        // Flagged, but no readable name.
        for flagged in [
            &b"ICAP/1.0 200 OK\r\nX-Infection-Found: Type=0; Threat=\x01\x02;\r\nEncapsulated: res-hdr=0, res-body=19\r\n\r\nHTTP/1.1 200 OK\r\n\r\n0\r\n\r\n"[..],
            b"ICAP/1.0 200 OK\r\nX-Violations-Found: 1\r\n\tonly\r\nEncapsulated: null-body=0\r\n\r\n",
        ] {
            assert_eq!(
                verdict_from_head(&head(flagged)).as_ref().and_then(IcapVerdict::threat_name),
                Some("unknown")
            );
        }
        let nothing = head(b"ICAP/1.0 200 OK\r\nEncapsulated: null-body=0\r\n\r\n");
        assert_eq!(
            verdict_from_head(&nothing),
            Some(IcapVerdict::Modified { http_status: None })
        );
    }
}
