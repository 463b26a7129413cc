//! Fuzzes `icap::reply`: the ICAP reply parser the client reads servers' answers with,
//! plus what is derived from a parsed head (OPTIONS fields, verdicts, the
//! `X-Infection-Found` and `X-Violations-Found` parsers).
//!
//! Input: one flags byte, then the bytes a server sends (one or more replies). Flags:
//! bit 0 selects tiny limits (so the size checks trigger on short inputs), bits 1–7
//! seed the sizes of the pieces the stream is fed in.
//!
//! Nothing may panic. Also checked: feeding the stream in pieces gives exactly what
//! parsing it whole gives (same replies, or the same error), no step consumes more
//! than it was given, a body is never longer than the input, and the bytes reported
//! consumed end on a reply boundary that parses again to the same replies.

#![no_main]

use icap::Options;
use icap::reply::{Event, Limits, Reply, ReplyError, ReplyHead, ReplyParser, parse_replies};
use icap::verdict::{parse_infection, parse_violations, verdict_from_echo, verdict_from_head};
use libfuzzer_sys::fuzz_target;

const TINY: Limits = Limits {
    max_head: 96,
    max_http_headers: 48,
    max_chunk_line: 12,
    max_trailers: 24,
};

/// Feeds `input` in pieces whose sizes follow `seed`; collects complete replies.
fn in_pieces(input: &[u8], limits: Limits, seed: u8) -> Result<Vec<Reply>, ReplyError> {
    let mut parser = ReplyParser::new(limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut state = u32::from(seed) | 1;
    let mut replies = Vec::new();
    let mut current: Option<Reply> = None;
    loop {
        let (used, event) = parser.next(&buf)?;
        assert!(used <= buf.len(), "consumed {used} of {}", buf.len());
        buf.drain(..used);
        match event {
            Some(Event::Head(head)) => {
                assert!(current.is_none(), "head inside a body");
                let reply = Reply {
                    head: *head,
                    body_len: 0,
                };
                if reply.head.has_body {
                    current = Some(reply);
                } else {
                    replies.push(reply);
                }
            }
            Some(Event::Body(n)) => {
                assert!(n > 0, "empty body event");
                match current.as_mut() {
                    Some(r) => r.body_len += n as u64,
                    None => panic!("body outside a reply"),
                }
            }
            Some(Event::End) => match current.take() {
                Some(r) => replies.push(r),
                None => panic!("end outside a reply"),
            },
            None if used == 0 => {
                if fed == input.len() {
                    return Ok(replies);
                }
                // xorshift: piece sizes 1..=64, deterministic per input.
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let piece = (state % 64) as usize + 1;
                let end = (fed + piece).min(input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            None => {}
        }
    }
}

fn derive(head: &ReplyHead, body_len: u64) {
    let options = Options::from_head(head);
    let _ = options.supports_respmod();
    if let Some(v) = verdict_from_head(head) {
        assert_eq!(verdict_from_echo(head, body_len, body_len), v);
        let _ = v.threat_name();
    } else {
        assert!(verdict_from_echo(head, body_len, body_len).is_clean());
        assert!(!verdict_from_echo(head, body_len, body_len + 1).is_clean());
    }
    for (_, value) in head.headers.iter() {
        if let Some(i) = parse_infection(value) {
            assert!(!i.threat.is_empty());
        }
        for v in parse_violations(value) {
            assert!(!v.threat.is_empty());
        }
    }
    let _ = head.istag();
    let _ = head.closes();
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    let limits = if flags & 1 == 1 {
        TINY
    } else {
        Limits::default()
    };
    let whole = parse_replies(input, limits);
    let pieces = in_pieces(input, limits, flags >> 1);
    match (&whole, &pieces) {
        (Ok((replies, used)), Ok(piecewise)) => {
            assert!(*used <= input.len());
            assert_eq!(replies, piecewise, "whole vs pieces");
            let again = parse_replies(&input[..*used], limits).expect("prefix parses");
            assert_eq!(&again.0, replies);
            assert_eq!(again.1, *used);
            for r in replies {
                assert!(r.body_len <= input.len() as u64);
                derive(&r.head, r.body_len);
            }
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "whole vs pieces");
            let _ = a.to_string();
        }
        _ => panic!("whole {whole:?} vs pieces {pieces:?}"),
    }
});
