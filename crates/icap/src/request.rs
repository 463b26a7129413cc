//! Request heads the client sends. Everything taken from the caller (host, service, file
//! name) is percent-encoded here, so no input can add a header line or break the
//! request line.

use std::fmt::Write;

/// Percent-encodes every byte outside `keep` (and always controls, space, `%` unless
/// kept, and non-ASCII).
fn encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The path part of `icap://host:port/<service>`. Query strings (`virus_scan?allow204=on`)
/// are kept; anything that is not a URI character is encoded.
pub fn encode_service(service: &str) -> String {
    encode(service.trim_start_matches('/'), b"/?=&+:@!$'()*,;%")
}

/// The encapsulated HTTP request path naming the file: c-icap puts it in its access
/// log and in the virus page. Long names are cut (at a character boundary) because
/// servers bound their header sizes too.
pub fn encode_name(name: &str) -> String {
    let mut cut = name.len().min(1024);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let path = encode(name[..cut].trim_start_matches('/'), b"/");
    format!("/{path}")
}

/// `host` or `[v6]`, for URIs and `Host` headers.
pub fn authority(host: &str, port: u16) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        encode(host, b"")
    };
    format!("{host}:{port}")
}

/// OPTIONS request.
pub fn options(uri: &str, host: &str, user_agent: &str) -> Vec<u8> {
    format!(
        "OPTIONS {uri} ICAP/1.0\r\nHost: {host}\r\nUser-Agent: {user_agent}\r\n\
         Encapsulated: null-body=0\r\n\r\n"
    )
    .into_bytes()
}

/// RESPMOD head: the ICAP headers and the encapsulated HTTP request and response
/// heads, ready for the chunked body. `preview` is the `Preview` header value, if any.
pub fn respmod(
    uri: &str,
    host: &str,
    user_agent: &str,
    name: &str,
    size: u64,
    preview: Option<usize>,
) -> Vec<u8> {
    let req_hdr = format!("GET {} HTTP/1.1\r\nHost: vigil\r\n\r\n", encode_name(name));
    let res_hdr = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
    );
    let mut head = format!(
        "RESPMOD {uri} ICAP/1.0\r\nHost: {host}\r\nUser-Agent: {user_agent}\r\nAllow: 204\r\n"
    );
    if let Some(p) = preview {
        let _ = write!(head, "Preview: {p}\r\n");
    }
    let _ = write!(
        head,
        "Encapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n{req_hdr}{res_hdr}",
        req_hdr.len(),
        req_hdr.len() + res_hdr.len()
    );
    head.into_bytes()
}

/// Appends one chunk (`size CRLF data CRLF`); empty data appends nothing, because an
/// empty chunk is the terminator.
pub fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let _ = write!(ByteWriter(out), "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk: `0; ieof` tells the server the preview was the whole body.
pub fn last_chunk(ieof: bool) -> &'static [u8] {
    if ieof {
        b"0; ieof\r\n\r\n"
    } else {
        b"0\r\n\r\n"
    }
}

struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_inject_lines() {
        assert_eq!(encode_name("dir/a b.txt"), "/dir/a%20b.txt");
        assert_eq!(
            encode_name("x\r\nX-Evil: 1 HTTP/1.1"),
            "/x%0D%0AX-Evil%3A%201%20HTTP/1.1"
        );
        assert_eq!(encode_name("/vol/été"), "/vol/%C3%A9t%C3%A9");
        let long = "é".repeat(1000);
        assert!(encode_name(&long).len() <= 1 + 1024 * 3);
    }

    #[test]
    fn authorities_and_services() {
        assert_eq!(authority("::1", 1344), "[::1]:1344");
        assert_eq!(authority("[fe80::1]", 1), "[fe80::1]:1");
        assert_eq!(authority("av.example", 1344), "av.example:1344");
        assert_eq!(authority("a b\r\n", 1), "a%20b%0D%0A:1");
        assert_eq!(encode_service("/virus_scan"), "virus_scan");
        assert_eq!(
            encode_service("virus_scan?allow204=on&mode=simple"),
            "virus_scan?allow204=on&mode=simple"
        );
        assert_eq!(encode_service("a b\r\n"), "a%20b%0D%0A");
    }

    #[test]
    fn respmod_offsets_point_at_the_sections() {
        let head = respmod("icap://h:1/s", "h:1", "ua", "f", 5, Some(1024));
        let text = String::from_utf8(head).expect("ascii");
        let (icap, encapsulated) = text.split_once("\r\n\r\n").expect("blank line");
        let res_at = encapsulated.find("HTTP/1.1 200 OK\r\n").expect("res-hdr");
        assert!(icap.contains(&format!(
            "\r\nPreview: 1024\r\nEncapsulated: req-hdr=0, res-hdr={res_at}, res-body="
        )));
        assert!(encapsulated.starts_with("GET /f HTTP/1.1\r\n"));
        let body_at: usize = icap
            .rsplit_once("res-body=")
            .and_then(|(_, n)| n.parse().ok())
            .expect("offset");
        assert_eq!(body_at, encapsulated.len());
    }

    #[test]
    fn chunks() {
        let mut out = Vec::new();
        push_chunk(&mut out, b"");
        push_chunk(&mut out, &[b'a'; 26]);
        out.extend_from_slice(last_chunk(true));
        assert_eq!(out, b"1a\r\naaaaaaaaaaaaaaaaaaaaaaaaaa\r\n0; ieof\r\n\r\n");
    }
}
