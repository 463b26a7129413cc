//! ClamAV hash lists: `.hdb` (`md5:size:Name`) and `.hsb` (`sha1-or-sha256:size:Name`),
//! so existing hash feeds load unchanged. A size of `*` (with a trailing functionality
//! level field, as ClamAV requires) matches any size.
//!
//! Lookups are keyed by size first: most files have a size no entry has, so they are
//! never hashed at all, which keeps hash lists nearly free on bulk scans.

use std::collections::{HashMap, HashSet};

use md5::Md5;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Algorithm {
    Md5,
    Sha1,
    Sha256,
}

#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}: {reason}")]
pub struct HashDbError {
    pub origin: String,
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct HashDb {
    /// (algorithm, digest) -> name, for entries with a fixed size, per size.
    by_size: HashMap<u64, HashMap<(Algorithm, Vec<u8>), String>>,
    any_size: HashMap<(Algorithm, Vec<u8>), String>,
    /// Algorithms that entries of a given size (or any size) use, so only those are computed.
    algorithms_by_size: HashMap<u64, HashSet<Algorithm>>,
    algorithms_any_size: HashSet<Algorithm>,
    entries: usize,
}

impl HashDb {
    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Adds every entry of one `.hdb`/`.hsb` text. `origin` names the source in errors.
    pub fn load(&mut self, text: &str, origin: &str) -> Result<(), HashDbError> {
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |reason: &str| HashDbError {
                origin: origin.to_string(),
                line: index + 1,
                reason: reason.into(),
            };
            let mut fields = line.split(':');
            let (Some(hash), Some(size), Some(name)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(error("expected hash:size:name"));
            };
            let algorithm = match hash.len() {
                32 => Algorithm::Md5,
                40 => Algorithm::Sha1,
                64 => Algorithm::Sha256,
                _ => {
                    return Err(error(
                        "hash must be 32 (MD5), 40 (SHA-1) or 64 (SHA-256) hex digits",
                    ));
                }
            };
            let digest = hex::decode(hash).map_err(|_| error("hash is not hexadecimal"))?;
            if name.is_empty() {
                return Err(error("empty signature name"));
            }
            let key = (algorithm, digest);
            if size == "*" {
                self.algorithms_any_size.insert(algorithm);
                self.any_size.insert(key, name.to_string());
            } else {
                let size: u64 = size
                    .parse()
                    .map_err(|_| error("size is neither a number nor *"))?;
                self.algorithms_by_size
                    .entry(size)
                    .or_default()
                    .insert(algorithm);
                self.by_size
                    .entry(size)
                    .or_default()
                    .insert(key, name.to_string());
            }
            self.entries += 1;
        }
        Ok(())
    }

    /// The name of the entry matching `data`, if any.
    pub fn lookup(&self, data: &[u8]) -> Option<&str> {
        let size = data.len() as u64;
        let sized = self.algorithms_by_size.get(&size);
        if sized.is_none() && self.algorithms_any_size.is_empty() {
            return None;
        }
        let wanted = |a: Algorithm| {
            sized.is_some_and(|s| s.contains(&a)) || self.algorithms_any_size.contains(&a)
        };
        for algorithm in [Algorithm::Md5, Algorithm::Sha1, Algorithm::Sha256] {
            if !wanted(algorithm) {
                continue;
            }
            let key = (algorithm, digest(algorithm, data));
            if let Some(name) = self
                .by_size
                .get(&size)
                .and_then(|m| m.get(&key))
                .or_else(|| self.any_size.get(&key))
            {
                return Some(name);
            }
        }
        None
    }
}

fn digest(algorithm: Algorithm, data: &[u8]) -> Vec<u8> {
    match algorithm {
        Algorithm::Md5 => Md5::digest(data).to_vec(),
        Algorithm::Sha1 => sha1_digest(data),
        Algorithm::Sha256 => Sha256::digest(data).to_vec(),
    }
}

fn sha1_digest(data: &[u8]) -> Vec<u8> {
    use sha1::Sha1;
    Sha1::digest(data).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hdb_and_hsb_entries_match_by_size_and_digest() {
        let data = b"hello world\n";
        let md5 = hex::encode(Md5::digest(data));
        let sha = hex::encode(Sha256::digest(data));
        let mut db = HashDb::default();
        db.load(&format!("# comment\n{md5}:12:Test.Md5\n"), "a.hdb")
            .expect("hdb");
        db.load(&format!("{sha}:*:Test.Sha:73\n"), "b.hsb")
            .expect("hsb");
        assert_eq!(db.len(), 2);
        assert_eq!(db.lookup(data), Some("Test.Md5"));
        let mut only_sha = HashDb::default();
        only_sha
            .load(&format!("{sha}:*:Test.Sha:73\n"), "b.hsb")
            .expect("hsb");
        assert_eq!(only_sha.lookup(data), Some("Test.Sha"));
        assert_eq!(db.lookup(b"other"), None);
        let mut wrong_size = HashDb::default();
        wrong_size
            .load(&format!("{md5}:13:Test.Md5\n"), "c.hdb")
            .expect("hdb");
        assert_eq!(wrong_size.lookup(data), None);
    }

    #[test]
    fn malformed_lines_are_reported_with_position() {
        let mut db = HashDb::default();
        let err = db.load("\nnothex:1:X\n", "bad.hdb").expect_err("must fail");
        assert_eq!(err.line, 2);
        assert!(
            db.load("00112233445566778899aabbccddeeff:big:X", "bad.hdb")
                .is_err()
        );
        assert!(
            db.load("00112233445566778899aabbccddeeff:1", "bad.hdb")
                .is_err()
        );
    }
}
