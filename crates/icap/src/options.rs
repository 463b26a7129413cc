//! The OPTIONS reply: what an ICAP service says about itself (RFC 3507 section 4.10).

use std::time::Duration;

use crate::reply::{ReplyHead, unquote};

/// A service's OPTIONS answer. Fields the server left out are `None`/empty/false.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    /// `Methods`, upper-cased: `["RESPMOD", "REQMOD"]` for c-icap's virus_scan.
    pub methods: Vec<String>,
    /// `Preview`: how many body bytes the service wants before deciding.
    pub preview: Option<usize>,
    /// `ISTag` without quotes: changes whenever the service's behaviour (for an
    /// antivirus, its signatures) changes, so verdicts cached under another tag are
    /// stale.
    pub istag: Option<String>,
    /// `Service`: free text, e.g. `C-ICAP/0.5.10 server - Antivirus service`.
    pub service: Option<String>,
    /// `Allow: 204`: the service may answer "unmodified" outside a preview.
    pub allow_204: bool,
    /// `Max-Connections`.
    pub max_connections: Option<usize>,
    /// `Options-TTL`: how long this answer stays valid; `None` means no limit given.
    pub ttl: Option<Duration>,
    /// `Transfer-Preview`, `Transfer-Ignore`, `Transfer-Complete` (file extensions;
    /// `*` for all), kept for callers that want them.
    pub transfer_preview: Vec<String>,
    pub transfer_ignore: Vec<String>,
    pub transfer_complete: Vec<String>,
}

impl Options {
    /// Reads the fields of a `200` OPTIONS reply. Unparseable numbers count as absent:
    /// a service with a bad `Preview` value is still usable without a preview.
    pub fn from_head(head: &ReplyHead) -> Options {
        let h = &head.headers;
        let list = |name: &str| -> Vec<String> {
            h.get_all(name)
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let number = |name: &str| -> Option<u64> { h.get(name)?.trim().parse().ok() };
        Options {
            methods: list("Methods")
                .into_iter()
                .map(|m| m.to_ascii_uppercase())
                .collect(),
            preview: number("Preview").and_then(|n| usize::try_from(n).ok()),
            istag: head.istag().map(str::to_owned),
            service: h.get("Service").map(|s| unquote(s).to_owned()),
            allow_204: h.has_token("Allow", "204"),
            max_connections: number("Max-Connections").and_then(|n| usize::try_from(n).ok()),
            ttl: number("Options-TTL").map(Duration::from_secs),
            transfer_preview: list("Transfer-Preview"),
            transfer_ignore: list("Transfer-Ignore"),
            transfer_complete: list("Transfer-Complete"),
        }
    }

    /// Whether the service accepts RESPMOD (what [`IcapClient::scan`](crate::IcapClient::scan) sends).
    pub fn supports_respmod(&self) -> bool {
        self.methods.iter().any(|m| m == "RESPMOD")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::tests_support::OPTIONS;
    use crate::reply::{Limits, parse_replies};

    #[test]
    fn real_cicap_options() {
        let (replies, _) = parse_replies(OPTIONS, Limits::default()).expect("parses");
        let o = Options::from_head(&replies[0].head);
        assert_eq!(o.methods, vec!["RESPMOD", "REQMOD"]);
        assert_eq!(o.preview, Some(1024));
        assert_eq!(o.istag.as_deref(), Some("CI0001-L5CkDhq+qWNs+PZ5DxxXsAAA"));
        assert_eq!(
            o.service.as_deref(),
            Some("C-ICAP/0.5.10 server - Antivirus service")
        );
        assert!(o.allow_204);
        assert_eq!(o.max_connections, None);
        assert_eq!(o.ttl, Some(Duration::from_secs(3600)));
        assert_eq!(o.transfer_preview, vec!["*"]);
        assert!(o.supports_respmod());
    }

    #[test]
    fn other_servers_forms() {
        let reply = b"ICAP/1.0 200 OK\r\nMethods: reqmod\r\nMethods: respmod\r\nISTag: W3E4R7U9-L2E4-2\r\n\
Max-Connections: 400\r\nOptions-TTL: nonsense\r\nPreview: -1\r\nAllow: 206, 204\r\nService: \"Symantec\"\r\n\
Transfer-Preview: *\r\nTransfer-Ignore: jpg,gif, png\r\nEncapsulated: null-body=0\r\n\r\n";
        let (replies, _) = parse_replies(reply, Limits::default()).expect("parses");
        let o = Options::from_head(&replies[0].head);
        assert_eq!(o.methods, vec!["REQMOD", "RESPMOD"]);
        assert_eq!(o.istag.as_deref(), Some("W3E4R7U9-L2E4-2"));
        assert_eq!(o.max_connections, Some(400));
        assert_eq!((o.ttl, o.preview), (None, None));
        assert!(o.allow_204);
        assert_eq!(o.service.as_deref(), Some("Symantec"));
        assert_eq!(o.transfer_ignore, vec!["jpg", "gif", "png"]);
    }
}
