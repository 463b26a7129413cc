//! Objects of an `s3` bucket on disk, in a Vigil-managed directory under the SVM root:
//! `<svm root>/.vigil-s3/<bucket uuid>/`, laid out by [`s3model::keypath`]. Uploads are
//! written to `.tmp/` in that directory and fsynced; committing moves the data to a
//! new version file beside the object, then replaces the object's metadata file
//! (`SEGMENT.o`, JSON naming the version) by rename. That rename is the commit point:
//! a reader, or a restart after a crash, sees the old object or the new one, never part
//! of one. Version files no metadata names (a crash between the two renames) are
//! never served, and [`BucketDir::clean`] removes them at start-up.
//!
//! Blocking file-system calls; the S3 door runs them on the blocking pool.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use s3model::keypath::{self, KeyPath};
use serde::{Deserialize, Serialize};

use super::checksums::Checksums;

/// The directory under an SVM root that holds its `s3` buckets.
pub const SVM_DIR: &str = ".vigil-s3";
const TMP_DIR: &str = ".tmp";

/// One commit or delete at a time per node: they read the metadata file they replace
/// and remove emptied directories, which must not interleave. Data is written and
/// fsynced before this is taken.
static COMMITS: Mutex<()> = Mutex::new(());

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// The data file's name in the object's directory.
    pub data: String,
    pub size: u64,
    /// Hex MD5 of the content, without quotes.
    pub etag: String,
    #[serde(default)]
    pub content_type: Option<String>,
    /// RFC 3339.
    pub last_modified: String,
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    /// The object's tag set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Checksums::is_empty")]
    pub checksums: Checksums,
}

/// What a conditional write requires of the object it replaces, checked under the
/// commit lock so that two writers cannot both pass it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    None,
    /// `If-None-Match: *`: no object at the key.
    Absent,
    /// `If-Match`: an object with this ETag (without quotes).
    ETag(String),
}

impl Precondition {
    pub fn holds(&self, current: Option<&ObjectMeta>) -> bool {
        match self {
            Precondition::None => true,
            Precondition::Absent => current.is_none(),
            Precondition::ETag(e) => current.is_some_and(|m| &m.etag == e),
        }
    }
}

pub struct BucketDir {
    root: PathBuf,
}

impl BucketDir {
    pub fn new(svm_root: &Path, bucket_uuid: &str) -> BucketDir {
        BucketDir {
            root: svm_root.join(SVM_DIR).join(bucket_uuid),
        }
    }

    pub fn create(&self) -> io::Result<()> {
        fs::create_dir_all(self.root.join(TMP_DIR))
    }

    pub fn remove(&self) -> io::Result<()> {
        match fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// A new temporary file for an upload.
    pub fn begin_upload(&self) -> io::Result<(PathBuf, File)> {
        let dir = self.root.join(TMP_DIR);
        fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok((path, file))
    }

    /// The bucket an upload's temporary file (from [`Self::begin_upload`]) belongs to.
    pub fn of_upload(tmp: &Path) -> Option<BucketDir> {
        let root = tmp.parent()?.parent()?;
        Some(BucketDir {
            root: root.to_path_buf(),
        })
    }

    /// Whether the upload staged in `tmp` is what `key` names now: its commit happened.
    pub fn holds_upload(&self, key: &KeyPath, tmp: &Path) -> io::Result<bool> {
        let Some(version) = upload_name(tmp) else {
            return Ok(false);
        };
        Ok(self
            .meta(key)?
            .is_some_and(|m| m.data == key.data_name(&version)))
    }

    /// The bucket's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Makes the fsynced upload in `tmp` the object at `key`.
    pub fn commit(&self, key: &KeyPath, tmp: &Path, meta: ObjectMeta) -> io::Result<ObjectMeta> {
        self.commit_when(key, tmp, meta, &Precondition::None)?
            .ok_or_else(|| io::Error::other("an unconditional commit was refused"))
    }

    /// [`Self::commit`] if `pre` holds for the object it replaces; `None` (and `tmp`
    /// left in place for the caller to remove) when it does not.
    pub fn commit_when(
        &self,
        key: &KeyPath,
        tmp: &Path,
        mut meta: ObjectMeta,
        pre: &Precondition,
    ) -> io::Result<Option<ObjectMeta>> {
        let _one = COMMITS.lock().unwrap_or_else(|e| e.into_inner());
        let dir = self.root.join(key.dir());
        let old = read_meta(&dir.join(key.object_name()))?;
        if !pre.holds(old.as_ref()) {
            return Ok(None);
        }
        fs::create_dir_all(&dir)?;
        // The version is named after the upload's temporary file, so that a recovery
        // holding that name can tell whether this upload committed (`holds_upload`).
        let version = upload_name(tmp).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        meta.data = key.data_name(&version);
        fs::rename(tmp, dir.join(&meta.data))?;
        self.write_meta(&dir, key, &meta)?;
        if let Some(old) = old
            && old.data != meta.data
        {
            let _ = fs::remove_file(dir.join(old.data));
        }
        Ok(Some(meta))
    }

    /// Replaces the metadata file of `key` (under the commit lock).
    fn write_meta(&self, dir: &Path, key: &KeyPath, meta: &ObjectMeta) -> io::Result<()> {
        let meta_tmp = self
            .root
            .join(TMP_DIR)
            .join(format!("{}.meta", uuid::Uuid::new_v4().simple()));
        let mut f = File::create(&meta_tmp)?;
        f.write_all(&serde_json::to_vec(meta).map_err(io::Error::other)?)?;
        f.sync_all()?;
        fs::rename(&meta_tmp, dir.join(key.object_name()))?;
        File::open(dir)?.sync_all()
    }

    /// Changes the stored metadata of an object (its tags) without touching its data;
    /// `None` when there is no object at `key`.
    pub fn update_meta(
        &self,
        key: &KeyPath,
        change: impl FnOnce(&mut ObjectMeta),
    ) -> io::Result<Option<ObjectMeta>> {
        let _one = COMMITS.lock().unwrap_or_else(|e| e.into_inner());
        let dir = self.root.join(key.dir());
        let Some(mut meta) = read_meta(&dir.join(key.object_name()))? else {
            return Ok(None);
        };
        change(&mut meta);
        self.write_meta(&dir, key, &meta)?;
        Ok(Some(meta))
    }

    pub fn meta(&self, key: &KeyPath) -> io::Result<Option<ObjectMeta>> {
        read_meta(&self.root.join(key.dir()).join(key.object_name()))
    }

    /// The object's metadata and its data, opened. A concurrent overwrite may remove
    /// the version just read about; then the newer one is read.
    pub fn open(&self, key: &KeyPath) -> io::Result<Option<(ObjectMeta, File)>> {
        let dir = self.root.join(key.dir());
        for _ in 0..5 {
            let Some(meta) = read_meta(&dir.join(key.object_name()))? else {
                return Ok(None);
            };
            match File::open(dir.join(&meta.data)) {
                Ok(f) => return Ok(Some((meta, f))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(
            "the object keeps changing while it is opened",
        ))
    }

    /// Removes the object; `false` when there was none. Directories it leaves empty go too.
    pub fn delete(&self, key: &KeyPath) -> io::Result<bool> {
        let _one = COMMITS.lock().unwrap_or_else(|e| e.into_inner());
        let dir = self.root.join(key.dir());
        let object = dir.join(key.object_name());
        let Some(meta) = read_meta(&object)? else {
            return Ok(false);
        };
        fs::remove_file(&object)?;
        let _ = fs::remove_file(dir.join(meta.data));
        for ancestor in key.ancestors().iter().rev() {
            // Fails (and stops) at the first directory that still holds something.
            if fs::remove_dir(self.root.join(ancestor)).is_err() {
                break;
            }
        }
        Ok(true)
    }

    /// Every object whose key starts with `prefix`, sorted by key.
    pub fn list(&self, prefix: &str) -> io::Result<Vec<(String, ObjectMeta)>> {
        let mut out = Vec::new();
        walk(&self.root, "", prefix, &mut out)?;
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Removes what an interrupted upload or commit left: files in `.tmp/`, and
    /// version files no metadata names. Run at start-up, before any upload; returns
    /// how many files went.
    pub fn clean(&self) -> io::Result<usize> {
        let mut removed = 0;
        if let Ok(entries) = fs::read_dir(self.root.join(TMP_DIR)) {
            for entry in entries.flatten() {
                if fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        removed += clean_versions(&self.root)?;
        Ok(removed)
    }

    /// Whether the bucket holds no object.
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.list("")?.is_empty())
    }

    /// The bytes of all objects (`logical_used_size`).
    pub fn used(&self) -> u64 {
        self.list("")
            .map(|objects| objects.iter().map(|(_, m)| m.size).sum())
            .unwrap_or(0)
    }
}

/// The unique name of an upload's temporary file (`<name>.part`).
fn upload_name(tmp: &Path) -> Option<String> {
    let stem = tmp.file_stem()?.to_str()?;
    (!stem.is_empty() && tmp.extension().is_some_and(|e| e == "part")).then(|| stem.to_string())
}

fn read_meta(path: &Path) -> io::Result<Option<ObjectMeta>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display()))),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn clean_versions(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let mut named = std::collections::HashSet::new();
    let mut versions = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type()?;
        if kind.is_dir() && keypath::dir_segment(&name).is_some() {
            removed += clean_versions(&entry.path())?;
        } else if kind.is_file() && keypath::object_segment(&name).is_some() {
            if let Some(meta) = read_meta(&entry.path())? {
                named.insert(meta.data);
            }
        } else if kind.is_file() && name.ends_with(keypath::DATA_SUFFIX) {
            versions.push(name);
        }
    }
    for name in versions {
        if !named.contains(&name) && fs::remove_file(dir.join(&name)).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

fn walk(
    dir: &Path,
    above: &str,
    prefix: &str,
    out: &mut Vec<(String, ObjectMeta)>,
) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let kind = entry.file_type()?;
        if kind.is_dir()
            && let Some(segment) = keypath::dir_segment(name)
        {
            let below = format!("{above}{segment}/");
            // Only directories that can hold keys with the prefix.
            if below.starts_with(prefix) || prefix.starts_with(&below) {
                walk(&entry.path(), &below, prefix, out)?;
            }
        } else if kind.is_file()
            && let Some(segment) = keypath::object_segment(name)
        {
            let key = format!("{above}{segment}");
            if key.starts_with(prefix)
                && let Some(meta) = read_meta(&entry.path())?
            {
                out.push((key, meta));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn put(b: &BucketDir, key: &str, body: &[u8]) -> ObjectMeta {
        let (tmp, mut f) = b.begin_upload().unwrap();
        f.write_all(body).unwrap();
        f.sync_all().unwrap();
        let meta = ObjectMeta {
            data: String::new(),
            size: body.len() as u64,
            etag: "e".into(),
            content_type: None,
            last_modified: "2026-01-01T00:00:00Z".into(),
            ..Default::default()
        };
        b.commit(&KeyPath::parse(key).unwrap(), &tmp, meta).unwrap()
    }

    fn read(b: &BucketDir, key: &str) -> Option<Vec<u8>> {
        let (_, mut f) = b.open(&KeyPath::parse(key).unwrap()).unwrap()?;
        let mut v = Vec::new();
        f.read_to_end(&mut v).unwrap();
        Some(v)
    }

    #[test]
    fn holds_upload_tells_whether_that_upload_committed() {
        let root = tempfile::tempdir().unwrap();
        let b = BucketDir::new(root.path(), "bucket");
        b.create().unwrap();
        let key = KeyPath::parse("a/b").unwrap();
        let (first, mut f) = b.begin_upload().unwrap();
        f.write_all(b"1").unwrap();
        let (second, mut f) = b.begin_upload().unwrap();
        f.write_all(b"2").unwrap();
        let of = BucketDir::of_upload(&first).unwrap();
        assert_eq!(of.root(), b.root());
        assert!(!of.holds_upload(&key, &first).unwrap());
        b.commit(&key, &first, ObjectMeta::default()).unwrap();
        assert!(of.holds_upload(&key, &first).unwrap());
        assert!(!of.holds_upload(&key, &second).unwrap());
        b.commit(&key, &second, ObjectMeta::default()).unwrap();
        assert!(!of.holds_upload(&key, &first).unwrap());
        assert!(of.holds_upload(&key, &second).unwrap());
    }

    #[test]
    fn conditional_commits_and_metadata_updates() {
        let root = tempfile::tempdir().unwrap();
        let b = BucketDir::new(root.path(), "b2");
        b.create().unwrap();
        let key = KeyPath::parse("k").unwrap();
        let first = put(&b, "k", b"one");
        let (tmp, mut f) = b.begin_upload().unwrap();
        f.write_all(b"two").unwrap();
        // The object exists: If-None-Match: * and a wrong If-Match are refused, and the
        // upload stays in place for the caller to remove.
        for pre in [Precondition::Absent, Precondition::ETag("other".into())] {
            let refused = b
                .commit_when(&key, &tmp, ObjectMeta::default(), &pre)
                .unwrap();
            assert_eq!(refused, None);
            assert!(tmp.exists());
        }
        let ok = b
            .commit_when(
                &key,
                &tmp,
                ObjectMeta::default(),
                &Precondition::ETag(first.etag),
            )
            .unwrap();
        assert!(ok.is_some());
        assert_eq!(read(&b, "k").unwrap(), b"two");
        let tagged = b
            .update_meta(&key, |m| {
                m.tags.insert("a".into(), "1".into());
            })
            .unwrap()
            .unwrap();
        assert_eq!(b.meta(&key).unwrap().unwrap(), tagged);
        assert_eq!(read(&b, "k").unwrap(), b"two");
        assert_eq!(
            b.update_meta(&KeyPath::parse("none").unwrap(), |_| {})
                .unwrap(),
            None
        );
    }

    #[test]
    fn put_overwrite_list_delete() {
        let root = tempfile::tempdir().unwrap();
        let b = BucketDir::new(root.path(), "b1");
        b.create().unwrap();
        assert!(b.is_empty().unwrap());
        put(&b, "a", b"one");
        put(&b, "a/b", b"two");
        put(&b, "a/c/d", b"three");
        put(&b, "z/", b"");
        put(&b, "a", b"uno");
        assert_eq!(read(&b, "a").unwrap(), b"uno");
        assert_eq!(read(&b, "a/b").unwrap(), b"two");
        let keys: Vec<String> = b.list("").unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "a/b", "a/c/d", "z/"]);
        let keys: Vec<String> = b.list("a/").unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a/b", "a/c/d"]);
        assert_eq!(b.used(), 3 + 3 + 5);
        // The overwritten version is gone: one data file per object.
        let dir = root.path().join(SVM_DIR).join("b1");
        let data: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".v"))
            .collect();
        assert_eq!(data.len(), 1);
        assert!(b.delete(&KeyPath::parse("a/c/d").unwrap()).unwrap());
        assert!(
            !dir.join("a.d/c.d").exists(),
            "emptied directories are removed"
        );
        assert!(dir.join("a.d").exists());
        assert!(!b.delete(&KeyPath::parse("a/c/d").unwrap()).unwrap());
        assert_eq!(read(&b, "a/c/d"), None);
        // An uncommitted upload is invisible.
        let (_tmp, mut f) = b.begin_upload().unwrap();
        f.write_all(b"partial").unwrap();
        assert_eq!(b.list("").unwrap().len(), 3);
        // What a crash between the two renames of a commit leaves: a version file no
        // metadata names. Cleaning removes it and the partial upload, nothing else.
        fs::write(dir.join("a.d/b.0123.v"), b"orphan").unwrap();
        assert_eq!(b.clean().unwrap(), 2);
        assert!(!dir.join("a.d/b.0123.v").exists());
        assert_eq!(read(&b, "a/b").unwrap(), b"two");
        assert_eq!(read(&b, "a").unwrap(), b"uno");
        assert_eq!(b.list("").unwrap().len(), 3);
    }
}
