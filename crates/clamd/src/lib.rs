//! The ClamAV clamd protocol, both sides: command framing and parsing, reply formats,
//! the INSTREAM chunk codec, descriptor passing for FILDES, and an async client.
//!
//! Wire behaviour follows clamd 1.4 as observed on the wire (see docs/scanner.md);
//! nothing here scans: the engine lives in the `scan` crate.

pub mod client;
pub mod command;
pub mod fdpass;
#[doc(hidden)]
pub mod fuzzing;
pub mod instream;
pub mod reply;

pub use client::{Client, Endpoint};
pub use command::{
    ADVERTISED_COMMANDS, Command, Frame, FrameError, Framing, MAX_COMMAND_LEN, ParseError,
    next_frame,
};
pub use instream::{ChunkDecoder, Event as StreamEvent};
pub use reply::{ParsedReply, ReplyWriter, STREAM_SUBJECT, Status, fd_subject, parse_reply};
