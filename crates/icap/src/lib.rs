//! An async ICAP client (RFC 3507) for antivirus services such as c-icap with
//! virus_scan, used by Vigil's scan dispatcher for pool servers written
//! `icap://host[:port]/service`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), icap::IcapError> {
//! use icap::{Config, IcapClient, IcapVerdict};
//!
//! let client = IcapClient::new("av.example", icap::ICAP_PORT, "avscan", Config::default());
//! let options = client.options().await?; // also a health check
//! println!("preview {:?}, ISTag {:?}", options.preview, options.istag);
//! let file = tokio::fs::File::open("/vol/a/report.pdf").await.map_err(icap::IcapError::Source)?;
//! let size = file.metadata().await.map_err(icap::IcapError::Source)?.len();
//! let result = client.scan("vol/a/report.pdf", size, file).await?;
//! match result.verdict {
//!     IcapVerdict::Clean => {}
//!     IcapVerdict::Infected { threat, .. } => println!("infected: {threat}"),
//!     IcapVerdict::Modified { .. } => println!("blocked without a threat name"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Protocol subset
//!
//! * `OPTIONS`: `Methods`, `Preview`, `ISTag`, `Service`, `Allow: 204`,
//!   `Max-Connections`, `Options-TTL`, `Transfer-*` are read ([`Options`]); the answer is
//!   cached for its `Options-TTL` (or [`Config::default_options_ttl`]) and dropped as soon
//!   as any reply carries another `ISTag` (RFC 3507 4.7: the service changed).
//! * `RESPMOD` only: the file travels as the body of an encapsulated `HTTP/1.1 200 OK`
//!   response (with `Content-Length`), preceded by a `GET /<file name>` request head so
//!   the server's logs name the file. `Allow: 204` is always offered. When the service
//!   advertises `Preview: n`, the first `n` bytes (at most [`Config::max_preview`]) go as
//!   a preview, ended by `0; ieof` when they are the whole file; the rest is sent only
//!   after `100 Continue`, and a final reply to the preview ends the exchange early. A
//!   `100 Continue` after `0; ieof` is ignored (erratum 5893). Without `Preview` the whole
//!   body is sent at once. Bodies are chunked; REQMOD, `Transfer-Ignore` and `206`
//!   partial replies are not used.
//! * The request is written while the reply is read (full duplex): a server may answer
//!   or start echoing before it has read everything, and c-icap does so for large files.
//!
//! # Verdicts ([`IcapVerdict`])
//!
//! * `204` → clean. `200` with `X-Infection-Found` (`Type=0; Resolution=2;
//!   Threat=...;`) or `X-Violations-Found` (a count line, then four folded lines per
//!   record: file name, threat, problem id, resolution) → infected, with the threat name.
//! * `200` without those headers: an encapsulated HTTP status other than 2xx (c-icap's
//!   403 page), or a body of another length than sent (c-icap cuts the echo short when
//!   it finds a virus after it started sending data back), or no HTTP response at all →
//!   [`IcapVerdict::Modified`]: blocked, no threat name. Only a 2xx echo of exactly the
//!   bytes sent is clean (c-icap answers a zero-byte body that way instead of 204).
//! * `4xx`/`5xx` → [`IcapError::Status`] (e.g. 404 for a wrong service name). Nothing
//!   that goes wrong is ever reported as clean.
//!
//! # What the client cannot see
//!
//! A service that does not scan a file still answers 204 or an unmodified echo.
//! c-icap's virus_scan does that past `virus_scan.MaxObjectSize` (5 MiB in Debian's
//! configuration) and for content types missing from `virus_scan.ScanFileTypes`; pool
//! servers must point at a service with `sizelimit=off&mode=simple` (Debian's `avscan`
//! alias), which also stops c-icap from echoing data before its scan ends. The
//! integration tests pin both behaviours down.
//!
//! # Bounds
//!
//! Replies are parsed by the I/O-free [`reply::ReplyParser`] under [`reply::Limits`]
//! (ICAP head, encapsulated HTTP heads, chunk-size lines and trailers); body bytes are
//! counted and discarded, never stored, so a hostile server cannot make the client
//! buffer much more than 64 KiB. Each exchange is bounded by [`Config::timeout`], and
//! at most [`Config::max_connections`] run at once per client.
//!
//! # Connections
//!
//! Connections are kept alive and reused (at most [`Config::max_idle`], for at most
//! [`Config::idle_timeout`]) when the reply was read to its end and the server did not
//! say `Connection: close`. An idle connection that the server closed is detected
//! before reuse; one that dies between that check and the first reply byte is retried
//! once on a new connection, which is possible because the preview is held in memory
//! and nothing past it is sent before the server answers.

mod client;
mod error;
pub mod options;
pub mod reply;
mod request;
pub mod verdict;

pub use client::{Config, IcapClient, ScanResult};
pub use error::IcapError;
pub use options::Options;
pub use verdict::{IcapVerdict, Violation};

/// The default ICAP port.
pub const ICAP_PORT: u16 = 1344;
