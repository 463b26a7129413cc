//! Scan server addresses: the entries of a scanner pool's `servers` list.
//!
//! ONTAP lists the Vscan servers as IP addresses or host names; Vigil connects to them,
//! so an entry also says how. Accepted forms:
//!
//! | Form | Meaning |
//! |---|---|
//! | `192.0.2.10`, `fd20::1`, `scan1.example.com` | ONTAP form: clamd protocol over TCP port [`CLAMD_PORT`] (3310) |
//! | `host:port`, `[fd20::1]:port`, `[fd20::1]` | Vigil: clamd over TCP on that port |
//! | `clamd://host[:port]`, `clamd://[v6][:port]` | Vigil: the same, as a URL |
//! | `unix:///abs/path/to/socket` | Vigil: clamd over a Unix socket |
//! | `icap://host[:port]/service` | Vigil: ICAP (RFC 3507), port [`ICAP_PORT`] (1344) by default |
//!
//! # Decisions
//!
//! * Anything that parses as an IPv6 address is one: `fd20::1:3310` is the address
//!   `fd20::1:3310` on port 3310, not `fd20::1` on port 3310. A port with IPv6 needs
//!   brackets; in URLs IPv6 always needs brackets. `[v6]` without a port is accepted.
//! * IPv4 is dotted decimal only (no leading zeros, no `0x`, no shortened forms).
//!   Host names are RFC 1123: labels of 1–63 `A-Za-z0-9-` not starting or ending with
//!   `-`, at most 253 characters, one optional trailing dot. A name whose last label is
//!   all digits (`1.2.3`, `10.0.0.256`), or whose labels are all numbers in C syntax
//!   (`1.0x7f`), is rejected: resolvers read such strings as IPv4 addresses in old
//!   numeric forms, so they cannot be names. Names are stored lowercase without the
//!   trailing dot.
//! * Unspecified (`0.0.0.0`, `::`), multicast and broadcast addresses are rejected: no
//!   scan server can be there.
//! * IPv6 zone identifiers (`fe80::1%eth0`) are not supported.
//! * Schemes are case-insensitive. No user information (`user@`), query (`?`) or
//!   fragment (`#`). Ports are decimal 1–65535 without sign or leading zeros.
//! * `clamd://` takes no path, not even `/`. `unix://` takes an absolute path and no
//!   host (`unix:///run/clamd.sock`); the path has no empty, `.` or `..` components,
//!   no trailing `/`, no `%` (no percent-decoding is done) and is at most 107 bytes (a
//!   Unix socket address holds 108 bytes including the terminating NUL).
//! * `icap://` needs a service: one or more `/`-separated segments of
//!   `A-Za-z0-9-._~` (no `.` or `..` segment), at most 255 characters; it is kept as
//!   given (ICAP service names are case-sensitive).
//! * Whitespace and control characters are rejected anywhere.
//! * [`ServerAddress`]'s `Display` is canonical and parses back to an equal value: the
//!   ONTAP form for clamd on 3310 (`fd20::1`), `host:port` / `[v6]:port` for other
//!   ports, `unix:///path`, and `icap://host[:port]/service` with the port only when
//!   it is not 1344.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;

/// Default clamd TCP port.
pub const CLAMD_PORT: u16 = 3310;
/// Default ICAP port.
pub const ICAP_PORT: u16 = 1344;
/// Longest Unix socket path, in bytes (`sun_path` is 108 bytes including the NUL).
pub const MAX_UNIX_PATH: usize = 107;
/// Longest ICAP service, in characters.
pub const MAX_ICAP_SERVICE: usize = 255;

/// A scan server's host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Ip(IpAddr),
    /// Lowercase host name without a trailing dot.
    Name(String),
}

impl fmt::Display for Host {
    /// IPv6 without brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => ip.fmt(f),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// A parsed `servers` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerAddress {
    /// clamd protocol over TCP.
    Clamd { host: Host, port: u16 },
    /// clamd protocol over a Unix socket.
    ClamdUnix { path: PathBuf },
    /// ICAP; `service` without the leading `/`.
    Icap {
        host: Host,
        port: u16,
        service: String,
    },
}

impl ServerAddress {
    /// The host, for TCP addresses.
    pub fn host(&self) -> Option<&Host> {
        match self {
            ServerAddress::Clamd { host, .. } | ServerAddress::Icap { host, .. } => Some(host),
            ServerAddress::ClamdUnix { .. } => None,
        }
    }

    /// The port, for TCP addresses.
    pub fn port(&self) -> Option<u16> {
        match self {
            ServerAddress::Clamd { port, .. } | ServerAddress::Icap { port, .. } => Some(*port),
            ServerAddress::ClamdUnix { .. } => None,
        }
    }
}

/// `host:port`, bracketing IPv6; the port is left out when it is `default` (and, for a
/// bare clamd address, the IPv6 brackets too, which gives ONTAP's form).
struct Authority<'a> {
    host: &'a Host,
    port: u16,
    default: u16,
    bare: bool,
}

impl fmt::Display for Authority<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v6 = matches!(self.host, Host::Ip(IpAddr::V6(_)));
        if self.port == self.default {
            if v6 && !self.bare {
                write!(f, "[{}]", self.host)
            } else {
                write!(f, "{}", self.host)
            }
        } else if v6 {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddress::Clamd { host, port } => Authority {
                host,
                port: *port,
                default: CLAMD_PORT,
                bare: true,
            }
            .fmt(f),
            ServerAddress::ClamdUnix { path } => write!(f, "unix://{}", path.display()),
            ServerAddress::Icap {
                host,
                port,
                service,
            } => {
                let authority = Authority {
                    host,
                    port: *port,
                    default: ICAP_PORT,
                    bare: false,
                };
                write!(f, "icap://{authority}/{service}")
            }
        }
    }
}

/// A `servers` entry that is not a valid address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scan server address \"{}\": {kind}", shown(.input))]
pub struct AddressError {
    input: String,
    kind: AddressErrorKind,
}

impl AddressError {
    /// The entry as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    pub fn kind(&self) -> &AddressErrorKind {
        &self.kind
    }
}

/// What is wrong with an address. `Display` is the part of the message after the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressErrorKind {
    #[error("it is empty")]
    Empty,
    #[error("it contains whitespace")]
    Whitespace,
    #[error("it contains a control character")]
    ControlChar,
    #[error(
        "unknown scheme \"{}\"; use clamd://, unix:// or icap://, or give just a host name or IP address",
        shown(.0)
    )]
    UnknownScheme(String),
    #[error("\"{}:\" must be followed by \"//\" (for example clamd://host, unix:///path)", shown(.0))]
    MalformedUrl(String),
    #[error("user information (user@) is not allowed")]
    UserInfo,
    #[error("a query (?) or fragment (#) is not allowed")]
    QueryOrFragment,
    #[error("the host is missing")]
    MissingHost,
    #[error("the port after ':' is missing")]
    MissingPort,
    #[error(
        "port \"{}\" is not a decimal number from 1 to 65535 (without sign or leading zeros)",
        shown(.0)
    )]
    BadPort(String),
    #[error("\"{}\" in brackets is not an IPv6 address", shown(.0))]
    BadIpv6(String),
    #[error("\"{}\" is not a valid IPv6 address", shown(.0))]
    InvalidIpv6(String),
    #[error("an IPv6 address in a URL or with a port must be in brackets, as in [fd20::1]:3310")]
    UnbracketedIpv6,
    #[error("IPv6 zone identifiers (%) are not supported")]
    ZoneId,
    #[error("{0} is not a unicast address")]
    NotUnicast(IpAddr),
    #[error("\"{}\" is not a valid host name: {reason}", shown(.host))]
    BadHostName { host: String, reason: &'static str },
    #[error(
        "\"{}\" is neither a valid IPv4 address (four decimal numbers 0-255) nor a host name (a host name cannot be a number or end in a numeric label)",
        shown(.0)
    )]
    NumericHost(String),
    #[error("only icap:// and unix:// addresses have a path")]
    UnexpectedPath,
    #[error("unexpected \"{}\" after the address", shown(.0))]
    TrailingJunk(String),
    #[error("an icap:// address needs a service, as in icap://host[:port]/service")]
    MissingService,
    #[error("ICAP service \"{}\" is invalid: {reason}", shown(.service))]
    BadService {
        service: String,
        reason: &'static str,
    },
    #[error(
        "a unix:// address takes an absolute socket path and no host, as in unix:///run/clamd.sock"
    )]
    UnixNotAbsolute,
    #[error("socket path is invalid: {0}")]
    BadUnixPath(&'static str),
}

/// An input for an error message: control characters escaped, long inputs cut short.
fn shown(s: &str) -> String {
    const LIMIT: usize = 100;
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == LIMIT {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl FromStr for ServerAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s).map_err(|kind| AddressError {
            input: s.to_owned(),
            kind,
        })
    }
}

type Parsed<T> = Result<T, AddressErrorKind>;

fn parse(s: &str) -> Parsed<ServerAddress> {
    use AddressErrorKind as E;
    if s.is_empty() {
        return Err(E::Empty);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(E::Whitespace);
    }
    if s.chars().any(char::is_control) {
        return Err(E::ControlChar);
    }
    if let Some((scheme, rest)) = s.split_once("://") {
        return if scheme.eq_ignore_ascii_case("clamd") {
            clamd_url(rest)
        } else if scheme.eq_ignore_ascii_case("unix") {
            unix_url(rest)
        } else if scheme.eq_ignore_ascii_case("icap") {
            icap_url(rest)
        } else {
            Err(E::UnknownScheme(scheme.to_owned()))
        };
    }
    if let Some((scheme, _)) = s.split_once(":/")
        && is_scheme(scheme)
    {
        return Err(E::MalformedUrl(scheme.to_owned()));
    }
    // ONTAP's forms: a bare IP address (either family) or host name.
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(ServerAddress::Clamd {
            host: Host::Ip(unicast(ip)?),
            port: CLAMD_PORT,
        });
    }
    if s.contains('/') {
        return Err(E::UnexpectedPath);
    }
    let (host, port) = authority(s, true)?;
    Ok(ServerAddress::Clamd {
        host,
        port: port.unwrap_or(CLAMD_PORT),
    })
}

fn clamd_url(rest: &str) -> Parsed<ServerAddress> {
    reject_query(rest)?;
    if rest.contains('/') {
        return Err(AddressErrorKind::UnexpectedPath);
    }
    let (host, port) = authority(rest, false)?;
    Ok(ServerAddress::Clamd {
        host,
        port: port.unwrap_or(CLAMD_PORT),
    })
}

fn icap_url(rest: &str) -> Parsed<ServerAddress> {
    use AddressErrorKind as E;
    reject_query(rest)?;
    let Some((auth, service)) = rest.split_once('/') else {
        return Err(if rest.is_empty() {
            E::MissingHost
        } else {
            E::MissingService
        });
    };
    let (host, port) = authority(auth, false)?;
    if service.is_empty() {
        return Err(E::MissingService);
    }
    let bad = |reason| {
        Err(E::BadService {
            service: service.to_owned(),
            reason,
        })
    };
    if service.chars().count() > MAX_ICAP_SERVICE {
        return bad("it is longer than 255 characters");
    }
    for segment in service.split('/') {
        match segment {
            "" => return bad("it has an empty segment ('//' or a trailing '/')"),
            "." | ".." => return bad("it has a '.' or '..' segment"),
            _ => {}
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        {
            return bad("only letters, digits, '-', '.', '_', '~' and '/' are allowed");
        }
    }
    Ok(ServerAddress::Icap {
        host,
        port: port.unwrap_or(ICAP_PORT),
        service: service.to_owned(),
    })
}

fn unix_url(rest: &str) -> Parsed<ServerAddress> {
    use AddressErrorKind as E;
    reject_query(rest)?;
    if !rest.starts_with('/') {
        return Err(E::UnixNotAbsolute);
    }
    if rest.contains('%') {
        return Err(E::BadUnixPath(
            "percent-encoding (%) is not supported; write the path as it is",
        ));
    }
    if rest.len() > MAX_UNIX_PATH {
        return Err(E::BadUnixPath(
            "it is longer than 107 bytes, the limit of a Unix socket address",
        ));
    }
    if rest.ends_with('/') {
        return Err(E::BadUnixPath("it ends in '/'; name the socket file"));
    }
    for c in rest[1..].split('/') {
        match c {
            "" => return Err(E::BadUnixPath("it has an empty component ('//')")),
            "." | ".." => return Err(E::BadUnixPath("it has a '.' or '..' component")),
            _ => {}
        }
    }
    Ok(ServerAddress::ClamdUnix {
        path: PathBuf::from(rest),
    })
}

fn reject_query(s: &str) -> Parsed<()> {
    if s.contains(['?', '#']) {
        Err(AddressErrorKind::QueryOrFragment)
    } else {
        Ok(())
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`. `bare` allows an unbracketed IPv6 address
/// (without port), as ONTAP's entries are.
fn authority(s: &str, bare: bool) -> Parsed<(Host, Option<u16>)> {
    use AddressErrorKind as E;
    if s.is_empty() {
        return Err(E::MissingHost);
    }
    if s.contains('@') {
        return Err(E::UserInfo);
    }
    if let Some(inside) = s.strip_prefix('[') {
        let Some((v6, after)) = inside.split_once(']') else {
            return Err(E::BadIpv6(inside.to_owned()));
        };
        if v6.contains('%') {
            return Err(E::ZoneId);
        }
        let ip = v6
            .parse::<Ipv6Addr>()
            .map_err(|_| E::BadIpv6(v6.to_owned()))?;
        let host = Host::Ip(unicast(IpAddr::V6(ip))?);
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((host, Some(port(p)?))),
                None => Err(E::TrailingJunk(after.to_owned())),
            },
        };
    }
    match s.matches(':').count() {
        0 => Ok((host(s)?, None)),
        1 => {
            let (h, p) = s.split_once(':').ok_or(E::MissingHost)?;
            if h.is_empty() {
                return Err(E::MissingHost);
            }
            Ok((host(h)?, Some(port(p)?)))
        }
        _ => {
            if s.contains('%') {
                return Err(E::ZoneId);
            }
            match s.parse::<Ipv6Addr>() {
                Ok(ip) if bare => Ok((Host::Ip(unicast(IpAddr::V6(ip))?), None)),
                Ok(_) => Err(E::UnbracketedIpv6),
                Err(_) => {
                    // Only when the part before the last ':' is an address was a port
                    // probably meant; otherwise the address itself is wrong.
                    let v6_with_port = s
                        .rsplit_once(':')
                        .is_some_and(|(a, _)| a.parse::<Ipv6Addr>().is_ok());
                    if v6_with_port {
                        Err(E::UnbracketedIpv6)
                    } else {
                        Err(E::InvalidIpv6(s.to_owned()))
                    }
                }
            }
        }
    }
}

fn port(p: &str) -> Parsed<u16> {
    use AddressErrorKind as E;
    if p.is_empty() {
        return Err(E::MissingPort);
    }
    let bad = || E::BadPort(p.to_owned());
    if !p.bytes().all(|b| b.is_ascii_digit()) || p.starts_with('0') || p.len() > 5 {
        return Err(bad());
    }
    p.parse::<u16>().map_err(|_| bad())
}

fn host(s: &str) -> Parsed<Host> {
    use AddressErrorKind as E;
    if let Ok(ip) = s.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(unicast(IpAddr::V4(ip))?));
    }
    let bad = |reason| {
        Err(E::BadHostName {
            host: s.to_owned(),
            reason,
        })
    };
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() {
        return bad("it has no labels");
    }
    if name.len() > 253 {
        return bad("it is longer than 253 characters");
    }
    let mut all_numeric = true;
    let mut last_numeric = false;
    for label in name.split('.') {
        if label.is_empty() {
            return bad("it has an empty label ('..' or a leading '.')");
        }
        if label.len() > 63 {
            return bad("a label is longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad("only letters, digits, '-' and '.' are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label starts or ends with '-'");
        }
        last_numeric = label.bytes().all(|b| b.is_ascii_digit());
        all_numeric &= last_numeric || is_c_hex(label);
    }
    if last_numeric || all_numeric {
        return Err(E::NumericHost(s.to_owned()));
    }
    Ok(Host::Name(name.to_ascii_lowercase()))
}

/// RFC 3986 scheme syntax.
fn is_scheme(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// `0x1f`: a number as `inet_aton` reads it.
fn is_c_hex(label: &str) -> bool {
    label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"))
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn unicast(ip: IpAddr) -> Parsed<IpAddr> {
    let ok = match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    };
    if ok {
        Ok(ip)
    } else {
        Err(AddressErrorKind::NotUnicast(ip))
    }
}

#[cfg(test)]
mod tests;
