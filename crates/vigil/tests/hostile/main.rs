//! Hostile files and clients against the real `vigil serve` (issue 21): no file a user can
//! write, and no client, may crash, stall or blind the scanner. Every case checks that
//! the process survives, that every request gets an answer and that the REST API keeps
//! answering throughout, and reports peak memory.

#[path = "../common/mod.rs"]
mod common;

mod clients;
mod files;
mod harness;
mod isolation;
mod trees;
