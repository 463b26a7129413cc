//! Where a path named by Samba lies in an SVM: `vfs_virusfilter` sends the host path
//! smbd opened (`<share path>/<file>`), as raw bytes; the scan must be of that file,
//! and only when it is inside the SVM namespace root the socket belongs to.
//!
//! `..` is refused outright (smbd never sends it; a client that does is probing), and
//! the directory part is resolved through its symbolic links before the containment
//! check, so a link out of the root does not lead a scan outside it. The final name is
//! kept as it is: the scanning service opens it without following a link.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// A file inside the SVM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The real host path (directory links resolved).
    pub host: PathBuf,
    /// How the SVM names it (`/share/a.txt`): scope, events and records use it. Bytes
    /// that are not UTF-8 are shown as U+FFFD there; the reply echoes the raw bytes.
    pub svm_path: String,
}

/// Why a path is not scanned. The messages are the text of clamd's `ERROR` reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// clamd's own wording for a relative or missing path.
    #[error("File path check failure: No such file or directory.")]
    NotFound,
    #[error("Access denied: the path leads outside the SVM namespace.")]
    Outside,
    #[error("Not a regular file.")]
    NotAFile,
    #[error("File path check failure: {0}.")]
    Io(String),
}

/// Locates `raw` (as sent) inside `root`, which must be canonical.
pub fn locate(root: &Path, raw: &[u8]) -> Result<Located, Refused> {
    let path = Path::new(OsStr::from_bytes(raw));
    if !path.is_absolute() {
        return Err(Refused::NotFound);
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(Refused::Outside);
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        // `/` itself.
        return Err(Refused::NotAFile);
    };
    let dir = std::fs::canonicalize(dir).map_err(io_refusal)?;
    if !dir.starts_with(root) {
        return Err(Refused::Outside);
    }
    let host = dir.join(name);
    let meta = std::fs::symlink_metadata(&host).map_err(io_refusal)?;
    if !meta.is_file() {
        return Err(Refused::NotAFile);
    }
    let inside = host.strip_prefix(root).map_err(|_| Refused::Outside)?;
    let svm_path = format!("/{}", inside.to_string_lossy());
    Ok(Located { host, svm_path })
}

fn io_refusal(e: io::Error) -> Refused {
    if e.kind() == io::ErrorKind::NotFound {
        Refused::NotFound
    } else {
        Refused::Io(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("share/sub")).unwrap();
        fs::write(root.join("share/a.txt"), b"x").unwrap();
        fs::create_dir_all(dir.path().join("outside")).unwrap();
        fs::write(dir.path().join("outside/secret"), b"s").unwrap();
        symlink(dir.path().join("outside"), root.join("share/out")).unwrap();
        symlink("sub", root.join("share/in")).unwrap();
        fs::write(root.join("share/sub/b.txt"), b"y").unwrap();
        let root = fs::canonicalize(root).unwrap();
        (dir, root)
    }

    fn raw(p: &Path) -> Vec<u8> {
        p.as_os_str().as_bytes().to_vec()
    }

    #[test]
    fn files_inside_are_located() {
        let (_d, root) = setup();
        let got = locate(&root, &raw(&root.join("share/a.txt"))).unwrap();
        assert_eq!(got.host, root.join("share/a.txt"));
        assert_eq!(got.svm_path, "/share/a.txt");
        // A directory link that stays inside is followed.
        let got = locate(&root, &raw(&root.join("share/in/b.txt"))).unwrap();
        assert_eq!(got.svm_path, "/share/sub/b.txt");
    }

    #[test]
    fn escapes_are_refused() {
        let (d, root) = setup();
        let dotdot = format!("{}/share/../../outside/secret", root.display());
        assert_eq!(locate(&root, dotdot.as_bytes()), Err(Refused::Outside));
        assert_eq!(
            locate(&root, &raw(&root.join("share/out/secret"))),
            Err(Refused::Outside)
        );
        assert_eq!(
            locate(&root, &raw(&d.path().join("outside/secret"))),
            Err(Refused::Outside)
        );
    }

    #[test]
    fn odd_paths_get_clamd_errors() {
        let (_d, root) = setup();
        assert_eq!(locate(&root, b"share/a.txt"), Err(Refused::NotFound));
        assert_eq!(locate(&root, b""), Err(Refused::NotFound));
        assert_eq!(
            locate(&root, &raw(&root.join("share/none"))),
            Err(Refused::NotFound)
        );
        assert_eq!(
            locate(&root, &raw(&root.join("share/sub"))),
            Err(Refused::NotAFile)
        );
        assert_eq!(locate(&root, b"/"), Err(Refused::NotAFile));
        assert_eq!(
            locate(&root, &raw(&root.join("share/in"))),
            Err(Refused::NotAFile)
        );
    }

    #[test]
    fn names_that_are_not_utf8_are_scanned() {
        let (_d, root) = setup();
        let mut name = raw(&root.join("share"));
        name.extend_from_slice(b"/caf\xe9\nx.txt");
        fs::write(Path::new(OsStr::from_bytes(&name)), b"z").unwrap();
        let got = locate(&root, &name).unwrap();
        assert_eq!(got.host.as_os_str().as_bytes(), &name[..]);
        assert_eq!(got.svm_path, "/share/caf\u{fffd}\nx.txt");
    }
}
