//! Where an object key lives below a bucket's directory.
//!
//! S3 lets `a` and `a/b` both be objects, which a plain key-to-path mapping cannot
//! store (`a` would be a file and a directory). So every name gets a suffix: a key's
//! `/`-separated segments become directories named `SEGMENT.d`, and the last segment is
//! the object's metadata file `SEGMENT.o` (the commit point of an upload), which names
//! its data file `SEGMENT.VERSION.v` beside it. `.d` and `.o` names never collide, and
//! the suffix also means no segment is ever used as a bare name.
//!
//! Keys that could still mean something else to a file system or to a person reading
//! the tree are refused rather than encoded: empty keys, absolute keys (a leading `/`),
//! NUL, `.` and `..` segments, keys over S3's 1024 bytes and segments too long for a
//! file name once suffixed.

use std::path::PathBuf;

/// The metadata file of an object (its commit point).
pub const OBJECT_SUFFIX: &str = ".o";
/// A directory holding the objects whose keys continue below a segment.
pub const DIR_SUFFIX: &str = ".d";
/// A data file, `SEGMENT.VERSION.v`.
pub const DATA_SUFFIX: &str = ".v";
/// S3's limit on key length, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// A segment's limit, leaving room in a 255-byte file name for `.VERSION.v` (a
/// 32-digit version).
pub const MAX_SEGMENT_BYTES: usize = 255 - 1 - 32 - DATA_SUFFIX.len();

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the object key is empty")]
    Empty,
    #[error("the object key is longer than {MAX_KEY_BYTES} bytes")]
    TooLong,
    #[error("the object key must not start with \"/\"")]
    Absolute,
    #[error("the object key must not contain a NUL character")]
    Nul,
    #[error("the object key must not contain \".\" or \"..\" segments")]
    DotSegment,
    #[error("a segment of the object key is longer than {MAX_SEGMENT_BYTES} bytes")]
    SegmentTooLong,
}

/// A checked key, ready to become paths below a bucket directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath {
    dirs: Vec<String>,
    leaf: String,
}

impl KeyPath {
    pub fn parse(key: &str) -> Result<KeyPath, KeyError> {
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong);
        }
        if key.starts_with('/') {
            return Err(KeyError::Absolute);
        }
        if key.contains('\0') {
            return Err(KeyError::Nul);
        }
        let mut segments: Vec<&str> = key.split('/').collect();
        for s in &segments {
            if *s == "." || *s == ".." {
                return Err(KeyError::DotSegment);
            }
            if s.len() > MAX_SEGMENT_BYTES {
                return Err(KeyError::SegmentTooLong);
            }
        }
        let leaf = segments.pop().unwrap_or_default().to_string();
        Ok(KeyPath {
            dirs: segments
                .into_iter()
                .map(|s| format!("{s}{DIR_SUFFIX}"))
                .collect(),
            leaf,
        })
    }

    /// The directory holding the object, relative to the bucket directory.
    pub fn dir(&self) -> PathBuf {
        self.dirs.iter().collect()
    }

    /// The directories from the bucket down to the object's, each relative to the
    /// bucket directory (for removing the ones a delete leaves empty).
    pub fn ancestors(&self) -> Vec<PathBuf> {
        (1..=self.dirs.len())
            .map(|n| self.dirs[..n].iter().collect())
            .collect()
    }

    /// The object's metadata file name, in [`dir`](Self::dir).
    pub fn object_name(&self) -> String {
        format!("{}{OBJECT_SUFFIX}", self.leaf)
    }

    /// The name of one data version, in [`dir`](Self::dir).
    pub fn data_name(&self, version: &str) -> String {
        format!("{}.{version}{DATA_SUFFIX}", self.leaf)
    }
}

/// The key segment a directory entry of a bucket stands for when it is a directory.
pub fn dir_segment(name: &str) -> Option<&str> {
    name.strip_suffix(DIR_SUFFIX)
}

/// The key segment a directory entry stands for when it is an object.
pub fn object_segment(name: &str) -> Option<&str> {
    name.strip_suffix(OBJECT_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_segments() {
        let k = KeyPath::parse("photos/2024/a.jpg").unwrap();
        assert_eq!(k.dir(), PathBuf::from("photos.d/2024.d"));
        assert_eq!(k.object_name(), "a.jpg.o");
        assert_eq!(k.data_name("ff"), "a.jpg.ff.v");
        assert_eq!(
            k.ancestors(),
            vec![PathBuf::from("photos.d"), PathBuf::from("photos.d/2024.d")]
        );
        // A key and a "directory" of the same name live side by side.
        let a = KeyPath::parse("a").unwrap();
        let ab = KeyPath::parse("a/b").unwrap();
        assert_ne!(a.dir().join(a.object_name()), ab.dir());
        // Folder markers and empty segments are keys too.
        let marker = KeyPath::parse("dir/").unwrap();
        assert_eq!(marker.dir(), PathBuf::from("dir.d"));
        assert_eq!(marker.object_name(), ".o");
        assert_eq!(
            KeyPath::parse("a//b").unwrap().dir(),
            PathBuf::from("a.d/.d")
        );
    }

    #[test]
    fn refuses_traversal() {
        assert_eq!(KeyPath::parse(""), Err(KeyError::Empty));
        assert_eq!(KeyPath::parse("/etc/passwd"), Err(KeyError::Absolute));
        assert_eq!(KeyPath::parse("a\0b"), Err(KeyError::Nul));
        for k in ["..", "../x", "a/../../x", "a/./b", ".", "a/.."] {
            assert_eq!(KeyPath::parse(k), Err(KeyError::DotSegment), "{k}");
        }
        assert_eq!(KeyPath::parse(&"k".repeat(1025)), Err(KeyError::TooLong));
        assert_eq!(
            KeyPath::parse(&"s".repeat(MAX_SEGMENT_BYTES + 1)),
            Err(KeyError::SegmentTooLong)
        );
        assert!(KeyPath::parse("...").is_ok(), "three dots is a plain name");
    }

    /// Every accepted key maps to relative paths of normal components only, whose
    /// names fit a file system and end in a Vigil suffix.
    #[test]
    fn accepted_keys_stay_inside() {
        let alphabet = [
            "a", "/", ".", "..", "\\", " ", "é", "%2e", ":", "x.d", "y.o",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut key = String::new();
            for _ in 0..(seed % 9) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                key.push_str(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let Ok(k) = KeyPath::parse(&key) else {
                continue;
            };
            let path = k.dir().join(k.object_name());
            for c in path.components() {
                let std::path::Component::Normal(name) = c else {
                    panic!("{key:?} maps to {path:?}");
                };
                let name = name.to_string_lossy();
                assert!(name.len() <= 255);
                assert!(name.ends_with(DIR_SUFFIX) || name.ends_with(OBJECT_SUFFIX));
            }
        }
    }

    /// The same property over keys of arbitrary characters and lengths (NUL, long
    /// segments, multi-byte characters, runs of `/` and `.`), for every path a key
    /// maps to: its directories, its metadata file and a data file with the longest
    /// version. The fuzz target `fuzz/fuzz_targets/s3_key_path.rs` checks the same on
    /// inputs libFuzzer finds.
    #[test]
    fn arbitrary_keys_stay_inside() {
        let pieces = [
            "/",
            ".",
            "..",
            "\0",
            "é",
            "\u{10ffff}",
            "a",
            "\\",
            ".d",
            ".o",
            ".v",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut key = String::new();
            for _ in 0..(next() % 12) {
                let r = next();
                if r % 5 == 0 {
                    // A long run, to cross the segment and key limits.
                    key.push_str(&"k".repeat((r % 300) as usize));
                } else {
                    key.push_str(pieces[(r % pieces.len() as u64) as usize]);
                }
            }
            let Ok(k) = KeyPath::parse(&key) else {
                continue;
            };
            accepted += 1;
            let object = k.dir().join(k.object_name());
            let data = k.dir().join(k.data_name(&"f".repeat(32)));
            let mut paths = k.ancestors();
            paths.push(object.clone());
            paths.push(data);
            for path in &paths {
                assert!(path.is_relative(), "{key:?} -> {path:?}");
                for c in path.components() {
                    let std::path::Component::Normal(name) = c else {
                        panic!("{key:?} maps to {path:?}");
                    };
                    let name = name.to_string_lossy();
                    assert!(name.len() <= 255, "{key:?}: {name:?}");
                    assert!(!name.contains('\0'), "{key:?}: {name:?}");
                    assert!(
                        [DIR_SUFFIX, OBJECT_SUFFIX, DATA_SUFFIX]
                            .iter()
                            .any(|s| name.ends_with(s)),
                        "{key:?}: {name:?}"
                    );
                }
                assert!(object.starts_with(path.parent().unwrap_or(path)));
            }
        }
        assert!(
            accepted > 1000,
            "the generator must reach accepted keys: {accepted}"
        );
    }
}
