//! Bytes into a temporary upload file: a request body (PutObject, UploadPart) or a
//! range of a stored object (CopyObject, UploadPartCopy). Either way the file is
//! fsynced and its MD5 and asked-for checksums are known and verified before anything
//! is committed; the caller removes the file on an error.

use std::io::{Read, Seek, SeekFrom, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt;
use md5::{Digest, Md5};
use s3s::dto::StreamingBlob;
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};
use tokio::io::AsyncWriteExt;

use super::checksums::{Checksums, Wanted};

/// What arrived in the file.
#[derive(Debug, Clone)]
pub struct Received {
    pub size: u64,
    pub md5: [u8; 16],
    pub checksums: Checksums,
}

impl Received {
    pub fn etag(&self) -> String {
        hex(&self.md5)
    }
}

/// What the request says about its body.
pub struct Expected<'a> {
    pub content_md5: Option<&'a str>,
    pub content_length: Option<i64>,
    pub checksums: Wanted,
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn internal(e: impl std::fmt::Display) -> S3Error {
    tracing::error!(error = %e, "s3 upload failed");
    S3Error::with_message(
        S3ErrorCode::InternalError,
        "The server could not complete the request.",
    )
}

/// Streams `body` into `file`, fsyncs it and checks Content-Length, Content-MD5 and
/// the checksums.
pub async fn receive(
    body: Option<StreamingBlob>,
    file: std::fs::File,
    expected: Expected<'_>,
) -> S3Result<Received> {
    // A malformed Content-MD5 is refused before the body is read.
    let claimed_md5 = expected
        .content_md5
        .map(|v| {
            STANDARD
                .decode(v.trim())
                .ok()
                .filter(|b| b.len() == 16)
                .ok_or_else(|| {
                    s3_error!(InvalidDigest, "The Content-MD5 you specified is not valid.")
                })
        })
        .transpose()?;
    let mut file = tokio::fs::File::from_std(file);
    let mut md5 = Md5::new();
    let mut sums = expected.checksums.hasher();
    let mut size: u64 = 0;
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                S3Error::with_message(
                    S3ErrorCode::IncompleteBody,
                    format!("The request body could not be read: {e}"),
                )
            })?;
            md5.update(&chunk);
            sums.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(internal)?;
        }
    }
    file.sync_all().await.map_err(internal)?;
    drop(file);
    if let Some(length) = expected.content_length
        && u64::try_from(length).ok() != Some(size)
    {
        return Err(s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        ));
    }
    let md5: [u8; 16] = md5.finalize().into();
    if let Some(given) = claimed_md5
        && given.as_slice() != md5.as_slice()
    {
        return Err(s3_error!(
            BadDigest,
            "The Content-MD5 you specified did not match what we received."
        ));
    }
    let checksums = expected.checksums.verify(sums)?;
    Ok(Received {
        size,
        md5,
        checksums,
    })
}

/// Copies `len` bytes of `src` from `start` into `dst` and fsyncs it. Blocking.
pub fn copy_range(
    mut src: std::fs::File,
    start: u64,
    len: u64,
    mut dst: std::fs::File,
    wanted: &Wanted,
) -> std::io::Result<Received> {
    src.seek(SeekFrom::Start(start))?;
    let mut md5 = Md5::new();
    let mut sums = wanted.hasher();
    let mut left = len;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = match src.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(std::io::Error::other(
                    "the source object is shorter than its metadata says",
                ));
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        md5.update(&buf[..n]);
        sums.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
        left -= n as u64;
    }
    dst.sync_all()?;
    let checksums = wanted
        .verify(sums)
        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    Ok(Received {
        size: len,
        md5: md5.finalize().into(),
        checksums,
    })
}
