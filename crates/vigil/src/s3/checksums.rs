//! `x-amz-checksum-*`: which checksums an upload asks for (headers, the SDK's
//! algorithm header, or an aws-chunked trailer announced in `x-amz-trailer`), computing
//! them while the body is received, and refusing the upload when a claimed value does
//! not match. `s3s` verifies signatures only (chunk signatures included), not these.
//!
//! Errors as AWS answers them: a value that is not base64 of the algorithm's length is
//! `InvalidRequest`, a well-formed value that does not match is `BadDigest`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use s3s::dto;
use s3s::{S3Error, S3ErrorCode, S3Result, TrailingHeaders};
use serde::{Deserialize, Serialize};

/// Base64 checksums of an object or part, stored with it and answered on HEAD/GET
/// with `x-amz-checksum-mode: ENABLED`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The algorithms, with their header name, S3 name and digest length.
const ALGORITHMS: [(Algo, &str, &str, usize); 5] = [
    (
        Algo::Crc32,
        "x-amz-checksum-crc32",
        dto::ChecksumAlgorithm::CRC32,
        4,
    ),
    (
        Algo::Crc32c,
        "x-amz-checksum-crc32c",
        dto::ChecksumAlgorithm::CRC32C,
        4,
    ),
    (
        Algo::Crc64Nvme,
        "x-amz-checksum-crc64nvme",
        dto::ChecksumAlgorithm::CRC64NVME,
        8,
    ),
    (
        Algo::Sha1,
        "x-amz-checksum-sha1",
        dto::ChecksumAlgorithm::SHA1,
        20,
    ),
    (
        Algo::Sha256,
        "x-amz-checksum-sha256",
        dto::ChecksumAlgorithm::SHA256,
        32,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algo {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Checksums {
    pub fn is_empty(&self) -> bool {
        *self == Checksums::default()
    }

    fn slot(&mut self, algo: Algo) -> &mut Option<String> {
        match algo {
            Algo::Crc32 => &mut self.crc32,
            Algo::Crc32c => &mut self.crc32c,
            Algo::Crc64Nvme => &mut self.crc64nvme,
            Algo::Sha1 => &mut self.sha1,
            Algo::Sha256 => &mut self.sha256,
        }
    }

    fn get(&self, algo: Algo) -> Option<&String> {
        match algo {
            Algo::Crc32 => self.crc32.as_ref(),
            Algo::Crc32c => self.crc32c.as_ref(),
            Algo::Crc64Nvme => self.crc64nvme.as_ref(),
            Algo::Sha1 => self.sha1.as_ref(),
            Algo::Sha256 => self.sha256.as_ref(),
        }
    }

    /// The checksums of a PutObject or UploadPart request's headers.
    pub fn claimed(
        crc32: Option<&String>,
        crc32c: Option<&String>,
        crc64nvme: Option<&String>,
        sha1: Option<&String>,
        sha256: Option<&String>,
    ) -> Checksums {
        Checksums {
            crc32: crc32.cloned(),
            crc32c: crc32c.cloned(),
            crc64nvme: crc64nvme.cloned(),
            sha1: sha1.cloned(),
            sha256: sha256.cloned(),
        }
    }

    fn from_dto(c: dto::Checksum) -> Checksums {
        Checksums {
            crc32: c.checksum_crc32,
            crc32c: c.checksum_crc32c,
            crc64nvme: c.checksum_crc64nvme,
            sha1: c.checksum_sha1,
            sha256: c.checksum_sha256,
        }
    }
}

/// What an upload asks to be verified, and which checksums to compute for it.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    claimed: Checksums,
    compute: Vec<Algo>,
    /// Set when the body is aws-chunked with trailing checksums.
    trailers: Option<TrailingHeaders>,
}

impl Wanted {
    /// `algorithm` is `x-amz-sdk-checksum-algorithm`; `headers` the request's, for
    /// `x-amz-trailer`.
    pub fn new(
        claimed: Checksums,
        algorithm: Option<&dto::ChecksumAlgorithm>,
        headers: &axum::http::HeaderMap,
        trailers: Option<TrailingHeaders>,
    ) -> S3Result<Wanted> {
        let trailer_names: Vec<String> = headers
            .get_all("x-amz-trailer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
        let mut compute = Vec::new();
        for (algo, header, name, _) in ALGORITHMS {
            let asked = claimed.get(algo).is_some()
                || algorithm.is_some_and(|a| a.as_str().eq_ignore_ascii_case(name))
                || trailer_names.iter().any(|t| t == header);
            if asked {
                compute.push(algo);
            }
        }
        if let Some(a) = algorithm
            && !ALGORITHMS
                .iter()
                .any(|(_, _, name, _)| a.as_str().eq_ignore_ascii_case(name))
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                format!("The checksum algorithm {} is not supported.", a.as_str()),
            ));
        }
        Ok(Wanted {
            claimed,
            compute,
            trailers,
        })
    }

    /// Asks for the algorithms an object already has (a copy keeps them).
    pub fn like(existing: &Checksums) -> Wanted {
        Wanted {
            compute: ALGORITHMS
                .iter()
                .filter(|(a, ..)| existing.get(*a).is_some())
                .map(|(a, ..)| *a)
                .collect(),
            ..Wanted::default()
        }
    }

    pub fn hasher(&self) -> ChecksumHasher {
        let mut h = ChecksumHasher::default();
        for algo in &self.compute {
            match algo {
                Algo::Crc32 => h.crc32 = Some(Crc32::new()),
                Algo::Crc32c => h.crc32c = Some(Crc32c::new()),
                Algo::Crc64Nvme => h.crc64nvme = Some(Crc64Nvme::new()),
                Algo::Sha1 => h.sha1 = Some(Sha1::new()),
                Algo::Sha256 => h.sha256 = Some(Sha256::new()),
            }
        }
        h
    }

    /// Compares what was computed with what the headers and trailers claimed; the
    /// computed checksums, to store, when every claim holds.
    pub fn verify(&self, hasher: ChecksumHasher) -> S3Result<Checksums> {
        let computed = Checksums::from_dto(hasher.finalize());
        let mut claimed = self.claimed.clone();
        if let Some(trailers) = &self.trailers
            && let Some(map) = trailers.take()
        {
            for (algo, header, ..) in ALGORITHMS {
                if let Some(v) = map.get(header).and_then(|v| v.to_str().ok()) {
                    *claimed.slot(algo) = Some(v.trim().to_string());
                }
            }
        }
        for (algo, header, name, len) in ALGORITHMS {
            let Some(value) = claimed.get(algo) else {
                continue;
            };
            if STANDARD.decode(value).map(|b| b.len()).ok() != Some(len) {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    format!("Value for {header} header is invalid."),
                ));
            }
            if computed.get(algo) != Some(value) {
                return Err(S3Error::with_message(
                    S3ErrorCode::BadDigest,
                    format!("The {name} you specified did not match the calculated checksum."),
                ));
            }
        }
        Ok(computed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashed(w: &Wanted, data: &[u8]) -> S3Result<Checksums> {
        let mut h = w.hasher();
        h.update(data);
        w.verify(h)
    }

    #[test]
    fn claims_are_checked() {
        let headers = axum::http::HeaderMap::new();
        // CRC32 of "hello" is 0x3610a686.
        let good = STANDARD.encode(0x3610_a686u32.to_be_bytes());
        let c = Checksums::claimed(Some(&good), None, None, None, None);
        let w = Wanted::new(c, None, &headers, None).unwrap();
        assert_eq!(hashed(&w, b"hello").unwrap().crc32, Some(good.clone()));
        let e = hashed(&w, b"hellO").unwrap_err();
        assert_eq!(*e.code(), S3ErrorCode::BadDigest);
        let bad = "not base64!".to_string();
        let c = Checksums::claimed(Some(&bad), None, None, None, None);
        let w = Wanted::new(c, None, &headers, None).unwrap();
        assert_eq!(
            *hashed(&w, b"hello").unwrap_err().code(),
            S3ErrorCode::InvalidRequest
        );
        // Only an algorithm: computed and kept, nothing to compare.
        let algo = dto::ChecksumAlgorithm::from_static(dto::ChecksumAlgorithm::SHA256);
        let w = Wanted::new(Checksums::default(), Some(&algo), &headers, None).unwrap();
        let got = hashed(&w, b"hello").unwrap();
        assert!(got.sha256.is_some() && got.crc32.is_none());
        let odd = dto::ChecksumAlgorithm::from("MD4".to_string());
        assert!(Wanted::new(Checksums::default(), Some(&odd), &headers, None).is_err());
    }
}
