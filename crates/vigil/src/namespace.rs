//! SVM namespaces: every path an SVM-scoped resource takes (`/vol1/dir`) resolves inside
//! the SVM's root directory and can never leave it.
//!
//! `..` is resolved lexically and may not climb above the root; symbolic links are
//! either refused anywhere on the path ([`Symlinks::Refuse`]) or followed only while
//! the real location stays inside the root ([`Symlinks::Contain`]).

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Linux PATH_MAX: longer paths cannot be opened anyway.
pub const MAX_PATH_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symlinks {
    Refuse,
    Contain,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NamespaceError {
    #[error("the path must start with \"/\" (it is relative to the SVM root)")]
    NotRooted,
    #[error("the path contains a NUL byte")]
    Nul,
    #[error("the path is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    #[error("the path leads outside the SVM namespace")]
    Escapes,
    #[error("the path contains a symbolic link ({0})")]
    Symlink(String),
    #[error("the path does not exist in the SVM namespace")]
    NotFound,
    #[error("the path is not a directory")]
    NotDirectory,
    #[error("the path cannot be examined: {0}")]
    Io(String),
}

#[derive(Debug, Clone)]
pub struct Namespace {
    root: PathBuf,
}

impl Namespace {
    /// `root` must exist; it is canonicalized once so later checks compare real paths.
    pub fn new(root: &Path) -> io::Result<Namespace> {
        Ok(Namespace {
            root: fs::canonicalize(root)?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The host path for an SVM path, which may not exist yet.
    pub fn resolve(&self, svm_path: &str, symlinks: Symlinks) -> Result<PathBuf, NamespaceError> {
        if svm_path.len() > MAX_PATH_BYTES {
            return Err(NamespaceError::TooLong);
        }
        if svm_path.contains('\0') {
            return Err(NamespaceError::Nul);
        }
        if !svm_path.starts_with('/') {
            return Err(NamespaceError::NotRooted);
        }
        let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
        for component in Path::new(svm_path).components() {
            match component {
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir => {
                    if parts.pop().is_none() {
                        return Err(NamespaceError::Escapes);
                    }
                }
                Component::Normal(name) => parts.push(name),
                Component::Prefix(_) => return Err(NamespaceError::Escapes),
            }
        }
        let mut candidate = self.root.clone();
        let mut existing = self.root.clone();
        let mut exists = true;
        for name in parts {
            candidate.push(name);
            if !exists {
                continue;
            }
            match fs::symlink_metadata(&candidate) {
                Ok(meta) => {
                    if meta.file_type().is_symlink() && symlinks == Symlinks::Refuse {
                        let shown = candidate
                            .strip_prefix(&self.root)
                            .map(|p| format!("/{}", p.display()))
                            .unwrap_or_default();
                        return Err(NamespaceError::Symlink(shown));
                    }
                    existing = candidate.clone();
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => exists = false,
                Err(e) => return Err(NamespaceError::Io(e.to_string())),
            }
        }
        // The longest existing prefix must really lie inside the root: this is what
        // catches symlinks (absolute or relative) that point out of the namespace.
        let real = fs::canonicalize(&existing).map_err(|e| NamespaceError::Io(e.to_string()))?;
        if !real.starts_with(&self.root) {
            return Err(NamespaceError::Escapes);
        }
        let tail = candidate
            .strip_prefix(&existing)
            .map_err(|_| NamespaceError::Escapes)?;
        Ok(if tail.as_os_str().is_empty() {
            real
        } else {
            real.join(tail)
        })
    }

    /// Like [`resolve`](Self::resolve), for a directory that must exist.
    pub fn existing_dir(
        &self,
        svm_path: &str,
        symlinks: Symlinks,
    ) -> Result<PathBuf, NamespaceError> {
        let path = self.resolve(svm_path, symlinks)?;
        match fs::metadata(&path) {
            Ok(m) if m.is_dir() => Ok(path),
            Ok(_) => Err(NamespaceError::NotDirectory),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(NamespaceError::NotFound),
            Err(e) => Err(NamespaceError::Io(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, Namespace) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("vol1/sub")).unwrap();
        fs::write(root.join("vol1/file"), b"x").unwrap();
        fs::create_dir_all(dir.path().join("outside")).unwrap();
        symlink(dir.path().join("outside"), root.join("vol1/abs_out")).unwrap();
        symlink("../../outside", root.join("vol1/rel_out")).unwrap();
        symlink("sub", root.join("vol1/in")).unwrap();
        symlink("/etc", root.join("etc")).unwrap();
        let ns = Namespace::new(&root).unwrap();
        (dir, ns)
    }

    #[test]
    fn plain_paths_resolve_inside() {
        let (_d, ns) = setup();
        assert_eq!(ns.resolve("/", Symlinks::Refuse).unwrap(), ns.root());
        assert_eq!(
            ns.resolve("/vol1/sub", Symlinks::Refuse).unwrap(),
            ns.root().join("vol1/sub")
        );
        assert_eq!(
            ns.resolve("//vol1/./sub/", Symlinks::Refuse).unwrap(),
            ns.root().join("vol1/sub")
        );
        assert_eq!(
            ns.resolve("/vol1/sub/../file", Symlinks::Refuse).unwrap(),
            ns.root().join("vol1/file")
        );
        assert_eq!(
            ns.resolve("/vol1/new/deeper", Symlinks::Refuse).unwrap(),
            ns.root().join("vol1/new/deeper")
        );
    }

    #[test]
    fn escapes_are_refused() {
        let (_d, ns) = setup();
        for p in [
            "/..",
            "/../outside",
            "/vol1/../../outside",
            "/vol1/sub/../../..",
            "/./../etc",
        ] {
            assert_eq!(
                ns.resolve(p, Symlinks::Contain),
                Err(NamespaceError::Escapes),
                "{p}"
            );
        }
        for p in [
            "/vol1/abs_out",
            "/vol1/abs_out/x",
            "/vol1/rel_out",
            "/vol1/rel_out/new",
            "/etc",
            "/etc/passwd",
        ] {
            assert_eq!(
                ns.resolve(p, Symlinks::Contain),
                Err(NamespaceError::Escapes),
                "{p}"
            );
        }
        assert_eq!(
            ns.resolve("vol1", Symlinks::Contain),
            Err(NamespaceError::NotRooted)
        );
        assert_eq!(
            ns.resolve("", Symlinks::Contain),
            Err(NamespaceError::NotRooted)
        );
        assert_eq!(
            ns.resolve("/vol1/\0", Symlinks::Contain),
            Err(NamespaceError::Nul)
        );
        assert_eq!(
            ns.resolve(&format!("/{}", "a".repeat(5000)), Symlinks::Contain),
            Err(NamespaceError::TooLong)
        );
    }

    #[test]
    fn symlink_modes() {
        let (_d, ns) = setup();
        assert_eq!(
            ns.resolve("/vol1/in", Symlinks::Contain).unwrap(),
            ns.root().join("vol1/sub")
        );
        assert_eq!(
            ns.resolve("/vol1/in/x", Symlinks::Contain).unwrap(),
            ns.root().join("vol1/sub/x")
        );
        assert!(
            matches!(ns.resolve("/vol1/in", Symlinks::Refuse), Err(NamespaceError::Symlink(p)) if p == "/vol1/in")
        );
        assert!(matches!(
            ns.resolve("/vol1/abs_out", Symlinks::Refuse),
            Err(NamespaceError::Symlink(_))
        ));
    }

    #[test]
    fn existing_dir_checks() {
        let (_d, ns) = setup();
        assert!(ns.existing_dir("/vol1/sub", Symlinks::Refuse).is_ok());
        assert_eq!(
            ns.existing_dir("/vol1/file", Symlinks::Refuse),
            Err(NamespaceError::NotDirectory)
        );
        assert_eq!(
            ns.existing_dir("/vol1/missing", Symlinks::Refuse),
            Err(NamespaceError::NotFound)
        );
    }
}
