//! The invariants the command parser must keep on arbitrary input, shared by the
//! cargo-fuzz target (`crates/clamd/fuzz`) and a bounded random test under `cargo test`.

use crate::command::{Command, Framing, MAX_COMMAND_LEN, next_frame};
use crate::instream::{ChunkDecoder, Event};
use crate::reply::parse_reply;

/// Drives bytes through the server-side framing exactly as a connection would: commands
/// cut from a buffer, an INSTREAM body decoded after INSTREAM, reply parsing on the
/// remainder. Panics (the fuzzer's signal) when an invariant breaks.
pub fn check_invariants(data: &[u8]) {
    // The first byte picks the packet-boundary behaviour so both paths get explored.
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let packet_end = mode & 1 == 1;
    let mut steps = 0;
    while !rest.is_empty() && steps < 10_000 {
        steps += 1;
        match next_frame(rest, packet_end) {
            Ok(Some(frame)) => {
                assert!(
                    frame.consumed > 0 && frame.consumed <= rest.len(),
                    "frame consumed {}",
                    frame.consumed
                );
                assert!(
                    frame.consumed <= MAX_COMMAND_LEN + 1,
                    "frame longer than the limit"
                );
                if let Ok(command) = &frame.command {
                    round_trip(command, frame.framing);
                }
                rest = &rest[frame.consumed..];
                if frame.command == Ok(Command::Instream) {
                    rest = decode_stream(rest, u64::from(mode) * 1024);
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    let _ = parse_reply(rest);
}

fn round_trip(command: &Command, framing: Framing) {
    let wire = command.encode(Framing::Nul);
    // A NUL inside a path cannot be sent with z framing; nothing to compare then.
    if wire[1..wire.len() - 1].contains(&0) || wire.len() > MAX_COMMAND_LEN {
        return;
    }
    match next_frame(&wire, false) {
        Ok(Some(again)) => {
            assert_eq!(again.consumed, wire.len());
            assert_eq!(
                again.command.as_ref(),
                Ok(command),
                "{framing:?} command does not round-trip"
            );
        }
        other => panic!("encoded {command:?} does not parse back: {other:?}"),
    }
}

fn decode_stream(mut input: &[u8], quota: u64) -> &[u8] {
    let mut decoder = ChunkDecoder::new(quota);
    let mut received = 0u64;
    while !input.is_empty() {
        let (used, event) = decoder.feed(input);
        assert!(used <= input.len());
        input = &input[used..];
        match event {
            Some(Event::Data(d)) => {
                received += d.len() as u64;
                assert!(received <= quota, "stream data past the quota");
            }
            Some(Event::End) | Some(Event::LimitExceeded) => break,
            None => assert!(used > 0 || input.is_empty(), "decoder made no progress"),
        }
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A libFuzzer-free run of the same invariants: structured random inputs built from
    /// command fragments, so they reach deep states quickly.
    #[test]
    fn random_inputs_keep_the_invariants() {
        const PIECES: &[&[u8]] = &[
            b"z",
            b"n",
            b"\0",
            b"\n",
            b"\r",
            b" ",
            b"/",
            b"SCAN",
            b"CONTSCAN",
            b"MULTISCAN",
            b"INSTREAM",
            b"IDSESSION",
            b"END",
            b"PING",
            b"VERSION",
            b"VERSIONCOMMANDS",
            b"FILDES",
            b"STATS",
            b"ALLMATCHSCAN",
            b"\x00\x00\x00\x05",
            b"\x00\x00\x00\x00",
            b"\xff\xff\xff\xff",
            b"abc",
            b"\xc3\x28",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200_000 {
            let mut input = vec![(next() & 0xff) as u8];
            for _ in 0..(next() % 24) {
                if next() % 5 == 0 {
                    input.push((next() & 0xff) as u8);
                } else {
                    input.extend_from_slice(PIECES[(next() % PIECES.len() as u64) as usize]);
                }
            }
            check_invariants(&input);
        }
    }
}
