//! What happens to an infected file: reported only, moved into the SVM's quarantine,
//! renamed, or deleted (`remediation`, a Vigil extension field of on-demand policies).
//!
//! Quarantine lives outside every namespace, in `<data-dir>/quarantine/<svm uuid>/`:
//! `<id>.data` holds the file's bytes, `<id>.json` its original path, mode, owner, times
//! and threat. A move is copy to a temporary name, fsync, rename into place, write the
//! metadata, and only then unlink the original: a crash at any point leaves the original
//! where it was (and at worst an orphan copy, removed at the next start). Restoring is
//! the same in reverse and refuses to overwrite anything.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::files::{copy_whole, write_whole};
use crate::namespace::{Namespace, Symlinks};

pub const ACTIONS: &[&str] = &["report", "quarantine", "rename", "delete"];
/// Suffix given by `rename`.
pub const RENAMED_SUFFIX: &str = ".vscan-infected";

/// The outcome of a remediation, as the event it produces.
pub enum Done {
    Reported,
    Quarantined { id: String },
    Renamed { to: String },
    Deleted,
}

impl Done {
    pub fn event_type(&self) -> Option<&'static str> {
        match self {
            Done::Reported => None,
            Done::Quarantined { .. } => Some("file_quarantined"),
            Done::Renamed { .. } => Some("file_renamed"),
            Done::Deleted => Some("file_deleted"),
        }
    }
}

pub fn dir(data_dir: &Path, svm_uuid: &str) -> PathBuf {
    data_dir.join("quarantine").join(svm_uuid)
}

/// Applies `action` to the infected file at `host_path` (`svm_path` as the SVM names it).
pub fn remediate(
    action: &str,
    data_dir: &Path,
    svm_uuid: &str,
    host_path: &Path,
    svm_path: &str,
    threat: &str,
) -> io::Result<Done> {
    match action {
        "quarantine" => {
            let meta = fs::symlink_metadata(host_path)?;
            if !meta.is_file() {
                return Err(io::Error::other("not a regular file"));
            }
            let dir = dir(data_dir, svm_uuid);
            fs::create_dir_all(&dir)?;
            let id = uuid::Uuid::new_v4().to_string();
            copy_whole(host_path, &dir.join(format!("{id}.data")))?;
            let record = json!({
                "id": id,
                "path": svm_path,
                "threat": threat,
                "size": meta.len(),
                "mode": meta.mode(),
                "uid": meta.uid(),
                "gid": meta.gid(),
                "mtime": meta.mtime(),
                "mtime_nsec": meta.mtime_nsec(),
                "quarantine_time": crate::scanning::events::event_time(chrono::Utc::now()),
            });
            let json_path = dir.join(format!("{id}.json"));
            write_whole(&json_path, record.to_string().as_bytes())?;
            fs::remove_file(host_path)?;
            Ok(Done::Quarantined { id })
        }
        "rename" => {
            let mut to = host_path.as_os_str().to_owned();
            to.push(RENAMED_SUFFIX);
            let to = PathBuf::from(to);
            if to.exists() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists", to.display()),
                ));
            }
            fs::rename(host_path, &to)?;
            Ok(Done::Renamed {
                to: format!("{svm_path}{RENAMED_SUFFIX}"),
            })
        }
        "delete" => {
            fs::remove_file(host_path)?;
            Ok(Done::Deleted)
        }
        _ => Ok(Done::Reported),
    }
}

/// The SVM's quarantined files (their metadata records, newest first).
pub fn list(data_dir: &Path, svm_uuid: &str) -> Vec<Value> {
    let Ok(entries) = fs::read_dir(dir(data_dir, svm_uuid)) else {
        return Vec::new();
    };
    let mut out: Vec<Value> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect();
    out.sort_by(|a: &Value, b: &Value| {
        b["quarantine_time"]
            .as_str()
            .cmp(&a["quarantine_time"].as_str())
    });
    out
}

/// Puts a quarantined file back, byte-identical, with its mode and times; refuses to
/// overwrite a file that is there now. `target` is the host path of its original place.
pub fn restore(data_dir: &Path, svm_uuid: &str, id: &str, target: &Path) -> io::Result<()> {
    let dir = dir(data_dir, svm_uuid);
    let json_path = dir.join(format!("{id}.json"));
    let record: Value = serde_json::from_str(&fs::read_to_string(&json_path)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if fs::symlink_metadata(target).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a file exists at the original path",
        ));
    }
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)?;
    }
    let data = dir.join(format!("{id}.data"));
    copy_whole(&data, target)?;
    if let Some(mode) = record["mode"].as_u64() {
        fs::set_permissions(target, fs::Permissions::from_mode((mode & 0o7777) as u32))?;
    }
    if let (Some(s), Some(ns)) = (record["mtime"].as_i64(), record["mtime_nsec"].as_i64()) {
        let t = std::time::UNIX_EPOCH
            + std::time::Duration::new(s.max(0) as u64, ns.clamp(0, 999_999_999) as u32);
        File::options().write(true).open(target)?.set_modified(t)?;
    }
    fs::remove_file(&json_path)?;
    fs::remove_file(&data)?;
    Ok(())
}

/// Removes copies a crash left without their metadata (the originals are still in place).
pub fn clean_orphans(data_dir: &Path) {
    let Ok(svms) = fs::read_dir(data_dir.join("quarantine")) else {
        return;
    };
    for svm in svms.filter_map(Result::ok) {
        let Ok(files) = fs::read_dir(svm.path()) else {
            continue;
        };
        for f in files.filter_map(Result::ok) {
            let p = f.path();
            let orphan = match p.extension().and_then(|x| x.to_str()) {
                Some("partial") => true,
                Some("data") => !p.with_extension("json").exists(),
                _ => false,
            };
            if orphan {
                let _ = fs::remove_file(&p);
            }
        }
    }
}

/// Undoes moves a crash interrupted after the copy was complete but before the original
/// was unlinked: the original is still there, byte-identical, so the copy goes.
/// `namespace_of` gives the namespace of an SVM that still exists.
pub fn finish_interrupted(data_dir: &Path, namespace_of: impl Fn(&str) -> Option<Namespace>) {
    let Ok(svms) = fs::read_dir(data_dir.join("quarantine")) else {
        return;
    };
    for svm_dir in svms.filter_map(Result::ok) {
        let svm_uuid = svm_dir.file_name().to_string_lossy().into_owned();
        let Some(ns) = namespace_of(&svm_uuid) else {
            continue;
        };
        for item in list(data_dir, &svm_uuid) {
            let (Some(id), Some(path)) = (item["id"].as_str(), item["path"].as_str()) else {
                continue;
            };
            let Ok(original) = ns.resolve(path, Symlinks::Refuse) else {
                continue;
            };
            let data = svm_dir.path().join(format!("{id}.data"));
            let same = match (fs::read(&original), fs::read(&data)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if same {
                tracing::info!(
                    svm = svm_uuid,
                    path,
                    "quarantine move interrupted by a stop: the original stays"
                );
                let _ = fs::remove_file(svm_dir.path().join(format!("{id}.json")));
                let _ = fs::remove_file(&data);
            }
        }
    }
}
