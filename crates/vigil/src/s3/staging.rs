//! Multipart uploads in progress, staged in the bucket's directory:
//!
//! ```text
//! <bucket dir>/.uploads/<upload id>/upload.json        key, content type, metadata, tags
//! <bucket dir>/.uploads/<upload id>/<part>.json         size, ETag, checksums, data file
//! <bucket dir>/.uploads/<upload id>/<part>.<version>.p  the part's bytes
//! ```
//!
//! The upload id is 32 hex digits (nothing else is accepted, so an id never names
//! another path). Every file arrives by rename from the bucket's `.tmp/`, fsynced, so
//! a crash leaves an upload as it was before the interrupted request: uploads and
//! their parts survive restarts, as in S3, until completed or aborted. A part's JSON
//! is its commit point; a data file no JSON names is never used and goes when the
//! upload does. `.uploads` never collides with a key: key segments always carry a
//! suffix (`s3model::keypath`).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::checksums::Checksums;

const UPLOADS_DIR: &str = ".uploads";
const TMP_DIR: &str = ".tmp";
const RECORD: &str = "upload.json";

/// Part writes and aborts, one at a time per node: a part must not land in an upload
/// being removed. Only renames happen under it.
static PARTS: Mutex<()> = Mutex::new(());

/// What CreateMultipartUpload said about the object to be.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub key: String,
    /// RFC 3339.
    pub initiated: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartRecord {
    pub number: u32,
    /// The data file's name in the upload's directory.
    pub data: String,
    pub size: u64,
    /// Hex MD5 of the part, without quotes.
    pub etag: String,
    pub last_modified: String,
    #[serde(default)]
    pub checksums: Checksums,
}

pub struct Staging {
    root: PathBuf,
    tmp: PathBuf,
}

/// Whether `id` is an upload id this server could have made.
pub fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn write_json(tmp_dir: &Path, value: &impl Serialize, to: &Path) -> io::Result<()> {
    let tmp = tmp_dir.join(format!("{}.json", uuid::Uuid::new_v4().simple()));
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(value).map_err(io::Error::other)?)?;
    f.sync_all()?;
    drop(f);
    if let Err(e) = fs::rename(&tmp, to) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Staging {
    /// The staging area of the bucket whose directory is `bucket_root`.
    pub fn new(bucket_root: &Path) -> Staging {
        Staging {
            root: bucket_root.join(UPLOADS_DIR),
            tmp: bucket_root.join(TMP_DIR),
        }
    }

    fn dir(&self, id: &str) -> Option<PathBuf> {
        valid_id(id).then(|| self.root.join(id))
    }

    /// Starts an upload; its id.
    pub fn create(&self, record: &UploadRecord) -> io::Result<String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = self.root.join(&id);
        fs::create_dir_all(&dir)?;
        fs::create_dir_all(&self.tmp)?;
        write_json(&self.tmp, record, &dir.join(RECORD))?;
        File::open(&dir)?.sync_all()?;
        Ok(id)
    }

    /// The upload's record; `None` for an unknown (or completed, or aborted) id.
    pub fn record(&self, id: &str) -> io::Result<Option<UploadRecord>> {
        match self.dir(id) {
            Some(dir) => read_json(&dir.join(RECORD)),
            None => Ok(None),
        }
    }

    /// Every upload in progress, with its id.
    pub fn list(&self) -> io::Result<Vec<(String, UploadRecord)>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().map(String::from) else {
                continue;
            };
            if let Some(record) = self.record(&id)? {
                out.push((id, record));
            }
        }
        Ok(out)
    }

    /// Makes the fsynced file `tmp` part `part.number` of the upload, replacing an
    /// earlier part with that number; `false` (and `tmp` left for the caller) when the
    /// upload does not exist.
    pub fn put_part(&self, id: &str, tmp: &Path, mut part: PartRecord) -> io::Result<bool> {
        let _one = PARTS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(dir) = self.dir(id) else {
            return Ok(false);
        };
        if !dir.join(RECORD).exists() {
            return Ok(false);
        }
        let meta_path = dir.join(format!("{}.json", part.number));
        let old: Option<PartRecord> = read_json(&meta_path)?;
        part.data = format!("{}.{}.p", part.number, uuid::Uuid::new_v4().simple());
        fs::rename(tmp, dir.join(&part.data))?;
        write_json(&self.tmp, &part, &meta_path)?;
        File::open(&dir)?.sync_all()?;
        if let Some(old) = old {
            let _ = fs::remove_file(dir.join(old.data));
        }
        Ok(true)
    }

    /// The upload's parts, by part number.
    pub fn parts(&self, id: &str) -> io::Result<Vec<PartRecord>> {
        let Some(dir) = self.dir(id) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_part = name
                .strip_suffix(".json")
                .is_some_and(|n| n.parse::<u32>().is_ok());
            if is_part && let Some(part) = read_json::<PartRecord>(&entry.path())? {
                out.push(part);
            }
        }
        out.sort_by_key(|p| p.number);
        Ok(out)
    }

    /// Where a part's bytes are.
    pub fn part_file(&self, id: &str, part: &PartRecord) -> Option<PathBuf> {
        self.dir(id).map(|d| d.join(&part.data))
    }

    /// Removes the upload and its parts; `false` when there was none.
    pub fn remove(&self, id: &str) -> io::Result<bool> {
        let _one = PARTS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(dir) = self.dir(id) else {
            return Ok(false);
        };
        if !dir.join(RECORD).exists() {
            return Ok(false);
        }
        // The record goes first, so a crash halfway leaves no upload that seems to exist.
        fs::remove_file(dir.join(RECORD))?;
        fs::remove_dir_all(&dir)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part_file(tmp: &Path, body: &[u8]) -> PathBuf {
        fs::create_dir_all(tmp).unwrap();
        let p = tmp.join(format!("{}.part", uuid::Uuid::new_v4().simple()));
        fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn uploads_parts_and_ids() {
        let root = tempfile::tempdir().unwrap();
        let s = Staging::new(root.path());
        let rec = UploadRecord {
            key: "a/b".into(),
            initiated: "2026-01-01T00:00:00Z".into(),
            ..Default::default()
        };
        let id = s.create(&rec).unwrap();
        assert!(valid_id(&id));
        assert_eq!(s.record(&id).unwrap(), Some(rec));
        // Ids that are not ours name nothing, however they are spelled.
        for bad in [
            "../x",
            "",
            "ABCDEF0123456789ABCDEF0123456789",
            "upload.json",
        ] {
            assert_eq!(s.record(bad).unwrap(), None);
            assert!(
                !s.put_part(bad, Path::new("/nonexistent"), PartRecord::default())
                    .unwrap()
            );
        }
        let tmp = root.path().join(TMP_DIR);
        for (n, body) in [(2u32, &b"two"[..]), (1, b"one"), (2, b"TWO")] {
            let f = part_file(&tmp, body);
            let part = PartRecord {
                number: n,
                size: body.len() as u64,
                ..Default::default()
            };
            assert!(s.put_part(&id, &f, part).unwrap());
        }
        let parts = s.parts(&id).unwrap();
        assert_eq!(parts.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2]);
        let data = fs::read(s.part_file(&id, &parts[1]).unwrap()).unwrap();
        assert_eq!(data, b"TWO");
        // The replaced part's bytes are gone: two data files for two parts.
        let files = fs::read_dir(root.path().join(UPLOADS_DIR).join(&id))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".p")
            })
            .count();
        assert_eq!(files, 2);
        assert_eq!(s.list().unwrap().len(), 1);
        assert!(s.remove(&id).unwrap());
        assert!(!s.remove(&id).unwrap());
        assert_eq!(s.record(&id).unwrap(), None);
        let f = part_file(&tmp, b"late");
        assert!(!s.put_part(&id, &f, PartRecord::default()).unwrap());
        assert!(s.list().unwrap().is_empty());
    }
}
