//! Files that are whole or absent: written (or copied) under a hidden temporary name,
//! synced, renamed into place, the directory synced. A crash leaves the old state or
//! the new one, plus at worst a `.<name>.partial` file.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// The temporary name next to `to`; its extension is always `partial`.
pub fn partial_path(to: &Path) -> PathBuf {
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    to.with_file_name(format!(".{name}.partial"))
}

fn place(tmp: &Path, to: &Path) -> io::Result<()> {
    File::open(tmp)?.sync_all()?;
    fs::rename(tmp, to)?;
    if let Some(parent) = to.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

pub fn write_whole(to: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = partial_path(to);
    fs::write(&tmp, bytes)?;
    place(&tmp, to)
}

pub fn copy_whole(from: &Path, to: &Path) -> io::Result<()> {
    let tmp = partial_path(to);
    fs::copy(from, &tmp)?;
    place(&tmp, to)
}
