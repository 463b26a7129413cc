//! Who may read `/metrics`: client networks allowed without a token, and a bearer token
//! that lets a scraper in from anywhere. Metrics name SVM-independent totals only, but
//! they still tell an outsider how busy and how infected a site is, so by default only
//! this host (loopback) reads them.

use std::fmt;
use std::net::IpAddr;

use anyhow::Context;

/// The allow-list when none is configured: this host only.
pub const DEFAULT_METRICS_ALLOW: &str = "127.0.0.0/8,::1/128";

/// One CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// `ADDR/PREFIX`, or a bare address (one host).
    pub fn parse(text: &str) -> anyhow::Result<Network> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .with_context(|| format!("{text:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .with_context(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Network { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// The first `bits` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

/// What a scrape request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// 401: a token was given and is wrong, or one is needed and missing.
    Unauthorized(&'static str),
    /// 403: the address is not allowed and no token could let it in.
    Forbidden,
}

#[derive(Clone)]
pub struct MetricsAccess {
    token: Option<String>,
    allow: Vec<Network>,
}

impl fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsAccess")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("allow", &self.allow)
            .finish()
    }
}

impl MetricsAccess {
    /// `allow` is comma-separated CIDR blocks, or `none`.
    pub fn new(token: Option<String>, allow: &str) -> anyhow::Result<MetricsAccess> {
        let allow = if allow.trim().eq_ignore_ascii_case("none") {
            Vec::new()
        } else {
            allow
                .split(',')
                .filter(|n| !n.trim().is_empty())
                .map(Network::parse)
                .collect::<anyhow::Result<_>>()
                .context("metrics_allow")?
        };
        Ok(MetricsAccess { token, allow })
    }

    /// A bearer token given is always checked (a wrong one is refused even from an
    /// allowed address, so a misconfigured scraper is noticed); without one, the
    /// client's address decides.
    pub fn decide(&self, peer: Option<IpAddr>, bearer: Option<&str>) -> Decision {
        if let Some(given) = bearer {
            return match &self.token {
                Some(token) if same(token.as_bytes(), given.as_bytes()) => Decision::Allow,
                _ => Decision::Unauthorized("The bearer token is not valid for /metrics."),
            };
        }
        if peer.is_some_and(|ip| self.allow.iter().any(|n| n.contains(ip))) {
            return Decision::Allow;
        }
        match self.token {
            Some(_) => Decision::Unauthorized("A bearer token is required for /metrics."),
            None => Decision::Forbidden,
        }
    }
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_match_by_prefix() {
        let n = Network::parse("10.1.0.0/15").unwrap();
        assert!(n.contains(ip("10.0.255.1")));
        assert!(n.contains(ip("10.1.2.3")));
        assert!(!n.contains(ip("10.2.0.1")));
        assert!(Network::parse("::1").unwrap().contains(ip("::1")));
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("::ffff:192.0.2.1"))
        );
        assert!(!Network::parse("::/0").unwrap().contains(ip("192.0.2.1")));
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("example").is_err());
    }

    #[test]
    fn token_and_addresses() {
        let open = MetricsAccess::new(None, DEFAULT_METRICS_ALLOW).unwrap();
        assert_eq!(open.decide(Some(ip("127.0.0.1")), None), Decision::Allow);
        assert_eq!(
            open.decide(Some(ip("192.0.2.1")), None),
            Decision::Forbidden
        );
        assert!(matches!(
            open.decide(Some(ip("127.0.0.1")), Some("x")),
            Decision::Unauthorized(_)
        ));
        let token = MetricsAccess::new(Some("s3cret".into()), "none").unwrap();
        assert_eq!(
            token.decide(Some(ip("127.0.0.1")), Some("s3cret")),
            Decision::Allow
        );
        assert!(matches!(
            token.decide(Some(ip("127.0.0.1")), None),
            Decision::Unauthorized(_)
        ));
        assert!(matches!(
            token.decide(None, Some("s3cre")),
            Decision::Unauthorized(_)
        ));
    }
}
