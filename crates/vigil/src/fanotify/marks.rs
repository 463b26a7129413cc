//! Which fanotify marks cover the SVM roots, kept in line with the roots as they come
//! and go, with mounts appearing under them and with directories created under a root
//! that is not a mount point.
//!
//! A root that is a mount point gets one mount mark (it covers the whole mount, races
//! included). Any other root gets an inode mark per directory, which covers only that
//! directory's direct children: new subdirectories are found through inotify and
//! marked as they appear (a file opened in a directory in the instant before its mark
//! lands is not scanned, the limit clamonacc has too). Every mount point under a root
//! gets its own mount mark, whichever kind the root has.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use super::sys::{Group, Inotify, MarkKind};

/// The marks of one SVM root.
#[derive(Debug, Default)]
struct Covered {
    root: PathBuf,
    /// The root itself and the mounts under it.
    mounts: BTreeSet<PathBuf>,
    /// Directories with an inode mark (a root that is not a mount point).
    dirs: BTreeSet<PathBuf>,
    /// What could not be marked, for the status.
    errors: Vec<String>,
}

pub struct Marks {
    group: Arc<Group>,
    inotify: Arc<Inotify>,
    mask: u64,
    svms: BTreeMap<String, Covered>,
    /// inotify watch number → the directory it watches.
    watches: HashMap<i32, PathBuf>,
}

impl Marks {
    pub fn new(group: Arc<Group>, inotify: Arc<Inotify>, mask: u64) -> Marks {
        Marks {
            group,
            inotify,
            mask,
            svms: BTreeMap::new(),
            watches: HashMap::new(),
        }
    }

    /// Covers exactly `wanted` (SVM uuid → root): roots no longer wanted lose their
    /// marks, new ones get theirs.
    pub fn set_roots(&mut self, wanted: &BTreeMap<String, PathBuf>) {
        let stale: Vec<String> = self
            .svms
            .iter()
            .filter(|(svm, c)| wanted.get(*svm) != Some(&c.root))
            .map(|(svm, _)| svm.clone())
            .collect();
        for svm in stale {
            if let Some(covered) = self.svms.remove(&svm) {
                self.uncover(covered);
            }
        }
        let mounts = mount_points();
        for (svm, root) in wanted {
            if self.svms.contains_key(svm) {
                continue;
            }
            let mut covered = Covered {
                root: root.clone(),
                ..Covered::default()
            };
            if mounts.contains(root) {
                self.add_mount(&mut covered, root);
            } else {
                self.add_tree(&mut covered, root, &mounts);
            }
            self.svms.insert(svm.clone(), covered);
        }
        self.refresh_mounts();
    }

    /// Marks every mount under a root that has none yet (mounted since), and forgets
    /// the ones gone (the kernel drops a mount's marks when it is unmounted).
    pub fn refresh_mounts(&mut self) {
        let mounts = mount_points();
        let svms: Vec<String> = self.svms.keys().cloned().collect();
        for svm in svms {
            let Some(mut covered) = self.svms.remove(&svm) else {
                continue;
            };
            let root = covered.root.clone();
            covered.mounts.retain(|m| mounts.contains(m));
            for m in mounts
                .iter()
                .filter(|m| m.starts_with(&root) && **m != root)
            {
                if !covered.mounts.contains(m) {
                    self.add_mount(&mut covered, m);
                }
            }
            self.svms.insert(svm, covered);
        }
    }

    /// A directory appeared in a watched one: mark it and what it already holds.
    pub fn dir_created(&mut self, watch: i32, name: &std::ffi::OsStr) {
        let Some(parent) = self.watches.get(&watch) else {
            return;
        };
        let dir = parent.join(name);
        let Some(svm) = self
            .svms
            .iter()
            .find(|(_, c)| c.dirs.contains(parent))
            .map(|(s, _)| s.clone())
        else {
            return;
        };
        let mounts = mount_points();
        if let Some(mut covered) = self.svms.remove(&svm) {
            self.add_tree(&mut covered, &dir, &mounts);
            self.svms.insert(svm, covered);
        }
    }

    /// Forgets every clean verdict the kernel holds (ignore masks), when what makes a
    /// verdict (policy, signatures, cache generation) changed. The flush takes the
    /// directory marks with it; they are placed again at once.
    pub fn flush_ignores(&mut self) {
        if let Err(e) = self.group.flush_inode_marks() {
            tracing::warn!(error = %e, "cannot flush fanotify ignore marks");
            return;
        }
        let mounts = mount_points();
        let svms: Vec<String> = self.svms.keys().cloned().collect();
        for svm in svms {
            let Some(mut covered) = self.svms.remove(&svm) else {
                continue;
            };
            if !covered.dirs.is_empty() {
                let dirs = std::mem::take(&mut covered.dirs);
                let gone: Vec<i32> = self
                    .watches
                    .iter()
                    .filter(|(_, d)| dirs.contains(*d))
                    .map(|(w, _)| *w)
                    .collect();
                for w in gone {
                    self.inotify.unwatch(w);
                    self.watches.remove(&w);
                }
                let root = covered.root.clone();
                self.add_tree(&mut covered, &root, &mounts);
            }
            self.svms.insert(svm, covered);
        }
    }

    /// What is marked, per SVM, for the status resource.
    pub fn status(&self, svm: &str) -> Value {
        let Some(c) = self.svms.get(svm) else {
            return json!({});
        };
        let mounts: Vec<String> = c.mounts.iter().map(|m| m.display().to_string()).collect();
        json!({
            "root": c.root.display().to_string(),
            "mount_marks": mounts,
            "directory_marks": c.dirs.len(),
            "errors": c.errors,
        })
    }

    fn add_mount(&mut self, covered: &mut Covered, mount: &Path) {
        match self.group.mark(true, MarkKind::Mount, self.mask, mount) {
            Ok(()) => {
                covered.mounts.insert(mount.to_path_buf());
            }
            Err(e) => {
                tracing::error!(mount = %mount.display(), error = %e, "cannot mark the mount for fanotify");
                covered
                    .errors
                    .push(format!("mount mark on {}: {e}", mount.display()));
            }
        }
    }

    /// Inode marks on `top` and every directory below it on the same file system
    /// (mounts below get mount marks instead).
    fn add_tree(&mut self, covered: &mut Covered, top: &Path, mounts: &BTreeSet<PathBuf>) {
        let Ok(device) = std::fs::symlink_metadata(top).map(|m| m.dev()) else {
            return;
        };
        let mut todo = vec![top.to_path_buf()];
        while let Some(dir) = todo.pop() {
            if covered.dirs.contains(&dir) {
                continue;
            }
            // Watch first, then list: a subdirectory created in between is seen by one.
            match self.inotify.watch(&dir) {
                Ok(watch) => {
                    self.watches.insert(watch, dir.clone());
                }
                Err(e) => covered
                    .errors
                    .push(format!("inotify watch on {}: {e}", dir.display())),
            }
            if let Err(e) = self.group.mark(true, MarkKind::Directory, self.mask, &dir) {
                covered
                    .errors
                    .push(format!("directory mark on {}: {e}", dir.display()));
                continue;
            }
            covered.dirs.insert(dir.clone());
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if !meta.is_dir() || mounts.contains(&path) || meta.dev() != device {
                    continue;
                }
                todo.push(path);
            }
        }
    }

    fn uncover(&mut self, covered: Covered) {
        for m in &covered.mounts {
            let _ = self.group.mark(false, MarkKind::Mount, self.mask, m);
        }
        for d in &covered.dirs {
            let _ = self.group.mark(false, MarkKind::Directory, self.mask, d);
        }
        let gone: Vec<i32> = self
            .watches
            .iter()
            .filter(|(_, d)| covered.dirs.contains(*d))
            .map(|(w, _)| *w)
            .collect();
        for w in gone {
            self.inotify.unwatch(w);
            self.watches.remove(&w);
        }
    }
}

fn mount_points() -> BTreeSet<PathBuf> {
    match super::sys::mount_points() {
        Ok(m) => m.into_iter().collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read /proc/self/mountinfo");
            BTreeSet::new()
        }
    }
}

/// Probes whether the kernel takes `FAN_OPEN_EXEC_PERM` (Linux 5.0).
pub fn exec_supported(group: &Group, probe: &Path) -> io::Result<bool> {
    let mask = libc::FAN_OPEN_EXEC_PERM;
    match group.mark(true, MarkKind::Directory, mask, probe) {
        Ok(()) => {
            let _ = group.mark(false, MarkKind::Directory, mask, probe);
            Ok(true)
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(e) => Err(e),
    }
}
